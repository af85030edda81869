"""The relay collector: the server as a team gateway in front of an upstream (SPEC §5).

Workers collect from an upstream speaking this same contract with one upstream token
only the server holds. Each call is one bounded exchange
(:mod:`jditem.server.upstream.exchange`), its answer scrubbed of the token
(:mod:`jditem.server.upstream.scrub`), then classified by the client's I/O-free core
(the one place the server imports the client, ``tests/test_boundaries.py``): ready, not
supported, pending (polled until the deadline), throttled (the shared rate cut, the call
repeated), refused (the circuit opens), retried, or ambiguous (possibly charged, never
resent: the task fails at once). Every call is recorded
(:mod:`jditem.server.upstream.accounting`). The rules per code: the README's "Relay".
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
from jditem.redaction import install_log_redaction, register_secret
from jditem.server.collectors.base import CollectError, CollectResult, SourceUnavailable
from jditem.server.settings import Settings
from jditem.server.upstream.accounting import UpstreamCallRow, UpstreamLedger
from jditem.server.upstream.circuit import OPENING_CODES, Circuit, refusal_message
from jditem.server.upstream.exchange import Answer, Failure, Progress, exchange
from jditem.server.upstream.rate import UpstreamRate
from jditem.server.upstream.scrub import Scrubber
from jditem.server.upstream.token import upstream_token

log = logging.getLogger("jditem.server.relay")

Sleep = Callable[[float], Awaitable[None]]

#: Bounds on the wait between two polls of a pending upstream task.
MIN_POLL_SECONDS = 0.05
MAX_POLL_SECONDS = 60.0
#: The longest upstream request id kept (the column's width).
REQUEST_ID_CHARS = 64


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


def answer_failure(classified: Classified, answer: Answer) -> tuple[str | None, bool]:
    """``(what went wrong, possibly charged)`` for a complete answer (module docstring).

    Only an answer without a usable envelope is a failure here: a redirect or a 4xx is
    a refusal (not charged); a 2xx or 5xx body that is empty, HTML or not an envelope
    means the upstream's own answer never reached us (possibly charged).
    """
    if classified.outcome is not Outcome.PROTOCOL_ERROR:
        return None, False
    status = answer.status
    if 300 <= status < 400:
        return "redirect", False
    if 400 <= status < 500:
        return f"HTTP {status} without an envelope", False
    start = answer.body.lstrip()[:1]
    label = "empty body" if not start else "HTML body" if start == b"<" else "invalid body"
    return label, True


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
        secret = base.token.get_secret_value()
        register_secret(secret)
        install_log_redaction()
        self._scrubber = Scrubber(secret)
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
                self._rate.succeeded()  # the circuit closes on data, not on an instruction
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
                raise self._serves_no_data(fallback.endpoints)
            code = classified.code
            if code is not None and code in OPENING_CODES:
                self._circuit.trip(code, refusal_message(code))
                raise SourceUnavailable(refusal_message(code))
            raise CollectError(self._describe_failure(classified, endpoint))

    def _available(self) -> None:
        self._rate.succeeded()
        self._circuit.succeeded()

    def _serves_no_data(self, endpoints: tuple[str, ...]) -> SourceUnavailable:
        """Every endpoint answered an instruction message: open the circuit (no code)."""
        listed = ", ".join(endpoints)
        message = (
            "upstream unavailable: the upstream answers an instruction message instead of "
            f"product data on every endpoint ({listed}); new items cannot be collected "
            "through this gateway until the upstream serves data again"
        )
        detail = (
            "set JDITEM_UPSTREAM_ENDPOINTS to an endpoint that serves data, or enable "
            "API access on the upstream's dashboard"
        )
        self._circuit.trip(None, message, detail=detail, retry_hint=False)
        return SourceUnavailable(message)

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
        """One upstream exchange, scrubbed, classified, recorded and logged.

        Raises :class:`CollectError` when no usable answer came back: final (never
        resent within the task) when the call may have been charged.
        """
        core = self._cores[endpoint]
        url, params, headers = core.request_parts(item_id)
        started = time.perf_counter()
        progress = Progress()
        try:
            result = await exchange(
                self._http,
                url,
                params=params,
                headers=headers,
                seconds=self._settings.upstream_timeout_seconds,
                max_body=self._settings.upstream_max_body,
                progress=progress,
            )
        except asyncio.CancelledError:  # shutdown or a lost lease, mid-call
            cut = Failure("cancelled", sent=progress.sent, outcome="transport_error")
            self._ledger.record_call_soon(self._row(item_id, endpoint, cut, started))
            raise
        if isinstance(result, Failure):
            await self._ledger.record_call(self._row(item_id, endpoint, result, started))
            raise self._failed_exchange(item_id, endpoint, result)
        classified = core.classify_response(
            item_id,
            result.status,
            self._answer_headers(result),
            self._scrubber.body(result.body),
            elapsed_s=time.perf_counter() - started,
        )
        failure, possibly = answer_failure(classified, result)
        row = self._row(
            item_id, endpoint, classified, started, failure=failure, possibly_charged=possibly
        )
        await self._ledger.record_call(row)
        if possibly:
            assert failure is not None
            raise self._ambiguous(item_id, endpoint, failure)
        return classified

    def _answer_headers(self, answer: Answer) -> dict[str, str]:
        """The headers the classification reads, scrubbed (a request id may echo the token)."""
        return {
            name: self._scrubber.text(answer.headers[name])
            for name in ("x-request-id", "retry-after", "idempotent-replayed")
            if name in answer.headers
        }

    def _failed_exchange(self, item_id: str, endpoint: str, failure: Failure) -> CollectError:
        if failure.sent:
            return self._ambiguous(item_id, endpoint, failure.label)
        return CollectError(
            f"the upstream ({endpoint}) could not be reached ({failure.label}); "
            "the task is retried after a backoff"
        )

    @staticmethod
    def _ambiguous(item_id: str, endpoint: str, what: str) -> CollectError:
        return CollectError(
            f"the upstream call ({endpoint}) for item {item_id} got no complete answer "
            f"({what}) and may have been charged, so it is not resent; a new call for "
            "the item asks the upstream again",
            final=True,
        )

    def _row(
        self,
        item_id: str,
        endpoint: str,
        call: Classified | Failure,
        started: float,
        *,
        failure: str | None = None,
        possibly_charged: bool = False,
    ) -> UpstreamCallRow:
        """The ``upstream_calls`` row of one call, logged at INFO (never the token)."""
        latency_ms = int((time.perf_counter() - started) * 1000)
        if isinstance(call, Failure):
            row = UpstreamCallRow(
                item_id=item_id,
                endpoint=endpoint,
                code=None,
                http_status=call.http_status,
                outcome=call.outcome,
                upstream_request_id=None,
                charged=False,
                latency_ms=latency_ms,
                possibly_charged=call.sent,
                failure=call.label,
            )
        else:
            row = UpstreamCallRow(
                item_id=item_id,
                endpoint=endpoint,
                code=call.code,
                http_status=call.http_status,
                outcome=call.outcome.value,
                upstream_request_id=(call.request_id or "")[:REQUEST_ID_CHARS] or None,
                charged=call.outcome is Outcome.READY,
                latency_ms=latency_ms,
                possibly_charged=possibly_charged,
                failure=failure,
            )
        log.info(
            "upstream %s itemId=%s http=%s code=%s outcome=%s%s%s %d ms",
            endpoint,
            item_id,
            row.http_status,
            row.code,
            row.outcome,
            f" ({row.failure})" if row.failure else "",
            " possibly charged" if row.possibly_charged else "",
            latency_ms,
        )
        return row
