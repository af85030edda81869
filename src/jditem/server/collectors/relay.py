"""The relay collector: the server as a team gateway in front of an upstream (SPEC §5).

Workers collect from an upstream speaking this same contract (the vendor's ``global``
or ``cn`` base URL, or another jditem server) with one upstream token only the server
holds. Coalescing and the result cache sit in front of this collector, so N callers of
one item cause one upstream charged call per ``result_ttl``.

The upstream side is the client's I/O-free core — request building and
``classify_response`` (:mod:`jditem.client.base`), the endpoint fallback
(:mod:`jditem.client.fallback`) and log redaction — driven here with one shared
``httpx.AsyncClient``. This module is the one place the server imports the client
(``tests/test_boundaries.py``). Each upstream answer, per SPEC §5:

* ready → the payload; not supported (202) → not supported (negative cache);
* pending → the task stays leased (the worker heartbeats) and the upstream is polled
  after its ``retryAfter`` until ``upstream_deadline``, then the task fails (301);
* 302 / HTTP 429 → the shared rate is cut (:mod:`jditem.server.upstream.rate`) and the
  call is repeated after ``Retry-After`` — not a failed attempt;
* 100 / 303 / 600 / 601 / 602 → the circuit opens
  (:mod:`jditem.server.upstream.circuit`) and the task fails at once; callers get 503;
* an instruction message → the next endpoint of ``upstream_endpoints``;
* 301 / 500 / 503 / transport errors → :class:`CollectError`: the worker retries the
  task after a backoff, within ``max_attempts``.

Every call is recorded (:mod:`jditem.server.upstream.accounting`), never the token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import httpx

from jditem.client.base import BaseClient, Classified, Outcome
from jditem.client.config import ClientConfig
from jditem.client.fallback import EndpointFallback
from jditem.client.redaction import install_log_redaction, register_secret
from jditem.server.collectors.base import CollectError, CollectResult, SourceUnavailable
from jditem.server.settings import Settings
from jditem.server.upstream.accounting import UpstreamCallRow, UpstreamLedger
from jditem.server.upstream.circuit import OPENING_CODES, Circuit, refusal_message
from jditem.server.upstream.rate import UpstreamRate
from jditem.server.upstream.token import upstream_token

log = logging.getLogger("jditem.server.relay")

Sleep = Callable[[float], Awaitable[None]]

#: Bounds on the wait between two polls of a pending upstream task.
MIN_POLL_SECONDS = 0.05
MAX_POLL_SECONDS = 60.0


def upstream_config(settings: Settings, endpoint: str = "v2") -> ClientConfig:
    """The client configuration of the upstream (raises ``ConfigurationError``)."""
    return ClientConfig.build(
        upstream_token(settings),
        base_url=settings.upstream,
        endpoint=endpoint,
        allow_insecure_http=settings.upstream_allow_insecure_http,
        read_timeout=settings.upstream_timeout_seconds,
        user_agent="jditem-relay",
    )


class RelayCollector:
    """A :class:`~jditem.server.collectors.base.Collector` that asks the upstream."""

    def __init__(
        self,
        settings: Settings,
        *,
        rate: UpstreamRate,
        circuit: Circuit,
        ledger: UpstreamLedger,
        http: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        base = upstream_config(settings)
        register_secret(base.token.get_secret_value())
        install_log_redaction()
        self._cores = {
            endpoint: BaseClient(base.replace(endpoint=endpoint))
            for endpoint in settings.upstream_endpoint_list
        }
        self.base_url = base.base_url
        self._rate = rate
        self._circuit = circuit
        self._ledger = ledger
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=base.read_timeout,
            follow_redirects=False,
            trust_env=True,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        self._sleep = sleep
        self._clock = clock

    async def aclose(self) -> None:
        """Close the connection pool (unless it was passed in)."""
        if self._owns_http:
            await self._http.aclose()

    # ---------------------------------------------------------------- collect

    async def collect(self, item_id: str) -> CollectResult:
        """Ask the upstream until it gives an answer the worker can store (module doc)."""
        fallback = EndpointFallback(self._settings.upstream_endpoint_list)
        deadline = self._clock() + self._settings.upstream_deadline_seconds
        polls = 0
        while True:
            if not self._circuit.may_call():
                raise SourceUnavailable(self._circuit.message)
            await self._rate.acquire()
            endpoint = fallback.current
            classified = await self._call(item_id, endpoint)
            outcome = classified.outcome
            if outcome is Outcome.READY:
                self._available()
                assert classified.envelope is not None
                data = classified.envelope.data
                assert isinstance(data, dict)
                return CollectResult.ok(data)
            if outcome is Outcome.NOT_SUPPORTED:
                self._available()
                return CollectResult.not_supported(
                    f"the upstream answered 202 on {endpoint} (not supported)"
                )
            if outcome is Outcome.PENDING:
                self._available()
                polls += 1
                wait = classified.retry_after
                if wait is None:
                    wait = float(self._settings.retry_after_seconds)
                wait = min(MAX_POLL_SECONDS, max(MIN_POLL_SECONDS, wait))
                if self._clock() + wait > deadline:
                    raise CollectError(
                        f"the upstream task for item {item_id} was still pending after "
                        f"{self._settings.upstream_deadline_seconds:g} s ({polls} poll(s); "
                        "upstream_deadline_seconds)",
                        final=True,
                    )
                await self._sleep(wait)
                continue
            if outcome is Outcome.RATE_LIMITED:
                self._circuit.succeeded()
                self._rate.throttled(classified.retry_after)
                if self._clock() >= deadline:
                    raise CollectError(
                        f"the upstream kept answering 'rate limited' for item {item_id} "
                        "until upstream_deadline_seconds"
                    )
                continue  # the next acquire() waits out the pause; not a failed attempt
            if outcome is Outcome.NOT_SERVING_DATA:
                self._available()
                following = fallback.advance(classified)
                if following is not None:
                    log.warning(
                        "upstream %s answered an instruction message for item %s; "
                        "falling back to %s",
                        endpoint,
                        item_id,
                        following,
                    )
                    continue
                raise CollectError(
                    f"every upstream endpoint ({', '.join(fallback.endpoints)}) answered an "
                    "instruction message instead of product data; set "
                    "JDITEM_UPSTREAM_ENDPOINTS to an endpoint that serves data",
                    final=True,
                )
            code = classified.code
            if code is not None and code in OPENING_CODES:
                self._circuit.trip(code, refusal_message(code))
                raise SourceUnavailable(refusal_message(code))
            raise CollectError(self._describe_failure(classified, endpoint))

    def _available(self) -> None:
        self._rate.succeeded()
        self._circuit.succeeded()

    @staticmethod
    def _describe_failure(classified: Classified, endpoint: str) -> str:
        if classified.code is not None:
            what = f"code {classified.code}"
        elif classified.http_status is not None:
            what = f"HTTP {classified.http_status} without an envelope"
        else:
            what = classified.outcome.value.replace("_", " ")
        return f"the upstream ({endpoint}) answered {what}; the task is retried after a backoff"

    async def _call(self, item_id: str, endpoint: str) -> Classified:
        """One upstream HTTP call, classified by the client core and recorded."""
        core = self._cores[endpoint]
        url, params, headers = core.request_parts(item_id)
        started = time.perf_counter()
        try:
            response = await self._http.get(
                url, params=params, headers=headers, timeout=core.timeout()
            )
        except httpx.HTTPError as exc:
            classified = core.classify_exception(
                item_id, exc, elapsed_s=time.perf_counter() - started
            )
        else:
            classified = core.classify_response(
                item_id,
                response.status_code,
                response.headers,
                response.content,
                elapsed_s=time.perf_counter() - started,
            )
        await self._ledger.record_call(
            UpstreamCallRow(
                item_id=item_id,
                endpoint=endpoint,
                code=classified.code,
                http_status=classified.http_status,
                outcome=classified.outcome.value,
                upstream_request_id=(classified.request_id or "")[:64] or None,
                charged=classified.outcome is Outcome.READY,
                latency_ms=int(classified.elapsed_s * 1000),
            )
        )
        log.debug(
            "upstream %s itemId=%s http=%s code=%s outcome=%s %.3fs",
            endpoint,
            item_id,
            classified.http_status,
            classified.code,
            classified.outcome.value,
            classified.elapsed_s,
        )
        return classified
