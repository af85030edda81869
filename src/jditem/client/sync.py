"""The synchronous client, :class:`Client` (twin of :class:`jditem.AsyncClient`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Self, Unpack

import httpx

from jditem import errors
from jditem.client.base import (
    BaseClient,
    CallInfo,
    Classified,
    Outcome,
    logger,
)
from jditem.client.config import ClientConfig, ClientOptions
from jditem.client.probe import ProbeResult, make_probe
from jditem.client.redaction import install_log_redaction, register_secret
from jditem.client.retry import Attempts, parse_continuation
from jditem.protocol.envelope import Envelope
from jditem.protocol.product import Product

OnCall = Callable[[CallInfo], object]


class Client:
    """Item id in, product out: a dependable client of the task-backed v2 endpoint.

    ``token`` defaults to ``JDITEM_TOKEN``, then ``JUSTONEAPI_TOKEN``. ``base_url`` is a
    preset (``global``, ``cn``) or a URL (default ``JDITEM_BASE_URL`` or ``global``).
    Other keyword arguments are the fields of :class:`ClientConfig`. Pass
    ``http_client`` to reuse your own :class:`httpx.Client` (it is not closed for you).

    Example::

        with Client() as client:
            product = client.get("100012043978")
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        http_client: httpx.Client | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        self._init(ClientConfig.build(token, **options), http_client, owns_http=None)

    def _init(
        self, config: ClientConfig, http_client: httpx.Client | None, *, owns_http: bool | None
    ) -> None:
        register_secret(config.token.get_secret_value())
        install_log_redaction()
        self._base = BaseClient(config)
        self._owns_http = http_client is None if owns_http is None else owns_http
        self._http = http_client or httpx.Client(
            timeout=self._base.timeout(), follow_redirects=False, trust_env=True
        )

    @property
    def config(self) -> ClientConfig:
        """The resolved configuration (its ``repr`` masks the token)."""
        return self._base.config

    def with_options(self, **changes: Unpack[ClientOptions]) -> Client:
        """A new client with ``changes`` applied, sharing this one's connection pool.

        The copy is usable while this client is open; closing the copy closes nothing.
        """
        clone = object.__new__(type(self))
        clone._init(self.config.replace(**changes), self._http, owns_http=False)
        return clone

    # -- calls -------------------------------------------------------------------------

    def _send(
        self, item_id: str, budget_s: float | None, idempotency_key: str | None = None
    ) -> tuple[Classified, httpx.Response | None]:
        url, params, headers = self._base.request_parts(item_id, idempotency_key)
        started = time.perf_counter()
        try:
            response = self._http.get(
                url, params=params, headers=headers, timeout=self._base.timeout(budget_s)
            )
        except httpx.HTTPError as exc:
            classified = self._base.classify_exception(
                item_id, exc, elapsed_s=time.perf_counter() - started
            )
            return classified, None
        classified = self._base.classify_response(
            item_id,
            response.status_code,
            response.headers,
            response.content,
            elapsed_s=time.perf_counter() - started,
        )
        logger.debug(
            "itemId=%s http=%s code=%s outcome=%s %.3fs",
            item_id,
            response.status_code,
            classified.code,
            classified.outcome.value,
            classified.elapsed_s,
        )
        return classified, response

    def fetch(self, item_id: str, *, idempotency_key: str | None = None) -> Envelope:
        """Exactly one HTTP call; returns the envelope whatever its business code.

        No retries, no polling. Raises only when there is no envelope to return:
        transport failures, a body that is not an envelope (``ProtocolError``), or
        HTTP 429/503 without a body code (``RateLimitError`` / ``CollectionFailedError``).
        ``idempotency_key`` is sent as the ``Idempotency-Key`` header (see :meth:`get`).
        """
        classified, _ = self._send(str(item_id), None, idempotency_key)
        if classified.envelope is None:
            assert classified.error is not None
            raise classified.error
        return classified.envelope

    def probe(self, item_id: str) -> ProbeResult:
        """One HTTP call; the redacted raw response with its classification."""
        classified, response = self._send(str(item_id), None)
        if response is None:
            assert classified.error is not None
            raise classified.error
        return make_probe(
            self._base,
            str(response.request.url),
            response.status_code,
            response.headers,
            response.content,
            classified,
        )

    def get(
        self,
        item_id: str,
        *,
        deadline: float | None = None,
        on_call: OnCall | None = None,
        before_call: Callable[[str], object] | None = None,
        idempotency_key: str | None = None,
    ) -> Product:
        """Submit, wait out pending, return the product; raise a typed error otherwise.

        ``deadline`` (seconds, default the client's, 15 min) bounds everything: calls
        and waits. ``on_call`` receives a :class:`CallInfo` after every HTTP call; an
        exception it raises stops ``get``. ``before_call(item_id)`` runs before every
        HTTP call; an exception it raises stops ``get`` before the call is made.

        ``idempotency_key`` is sent as the ``Idempotency-Key`` header with every call
        (1-128 printable ASCII characters, never containing the token; one key per item
        and logical fetch): a server that honours it (jditem's own) charges the item at
        most once per key, so a repeat after a crash or a lost answer is free. The
        vendor ignores the header — there the guarantee does not hold.
        """
        if idempotency_key is not None:
            self._base.check_idempotency_key(idempotency_key)
        item_id = str(item_id)
        attempts = Attempts(self.config, item_id, deadline)
        while True:
            if before_call is not None:
                before_call(item_id)
            classified, _ = self._send(item_id, attempts.call_timeout(), idempotency_key)
            info = attempts.record(classified)
            if on_call is not None:
                on_call(info)
            if classified.outcome is Outcome.READY:
                return self._base.product(classified, item_id)
            wait = attempts.next_wait(classified)
            logger.debug(
                "itemId=%s waiting %.2fs before call %d", item_id, wait, info.call_number + 1
            )
            if wait > 0:
                time.sleep(wait)

    def resume(
        self,
        continuation: str | errors.PendingTimeoutError,
        *,
        deadline: float | None = None,
        on_call: OnCall | None = None,
    ) -> Product:
        """Continue waiting for an item after :class:`~jditem.errors.PendingTimeoutError`.

        The server attaches calls for the same item to the same task, so nothing is
        submitted twice. The continuation must come from a client with the same base
        URL and endpoint.
        """
        data = parse_continuation(continuation)
        if (data.get("baseUrl"), data.get("endpoint")) != (
            self.config.base_url,
            self.config.endpoint,
        ):
            raise errors.ConfigurationError(
                f"this continuation is for {data.get('baseUrl')} ({data.get('endpoint')}), "
                f"not {self.config.base_url} ({self.config.endpoint}): use "
                "client.with_options(base_url=..., endpoint=...) to match it"
            )
        return self.get(data["itemId"], deadline=deadline, on_call=on_call)

    def get_many(
        self,
        ids: Iterable[str],
        *,
        concurrency: int = 8,
        rate: float | None = None,
        deadline: float | None = None,
        on_call: Callable[[CallInfo], object] | None = None,
    ) -> Iterator[Any]:
        """Fetch many items; yield a ``jditem.batch.ItemResult`` for each as it completes.

        The twin of :meth:`AsyncClient.get_many` (same rules: bounded concurrency, smooth
        adaptive rate, fatal answers raised after the results in flight); the calls run
        on an event loop in a helper thread. ``on_call`` runs on that thread::

            for result in client.get_many(ids, concurrency=8, rate=10):
                print(result.item_id, result.product or result.error)
        """
        from jditem.batch.engine import get_many_sync

        return get_many_sync(
            self.config,
            ids,
            concurrency=concurrency,
            rate=rate,
            deadline=deadline,
            on_call=on_call,
        )

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool (unless it was passed in or shared)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._base.describe()})"
