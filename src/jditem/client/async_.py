"""The asynchronous client, :class:`AsyncClient` (twin of :class:`jditem.Client`).

Cancellation-friendly: cancelling the task running ``get`` interrupts the current
HTTP call or wait at once, and nothing is left behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, Self, Unpack

import httpx

from jditem import errors
from jditem.client.base import BaseClient, CallInfo, Classified, KeyEvidence
from jditem.client.config import ClientConfig, ClientOptions, check_option_names
from jditem.client.flow import GetFlow, Send, drive_async
from jditem.client.probe import ProbeResult, make_probe
from jditem.client.redaction import install_log_redaction, register_secret
from jditem.client.watch import AsyncWatchLists, WatchCore
from jditem.protocol.envelope import Envelope
from jditem.protocol.product import Product

OnCall = Callable[[CallInfo], object | Awaitable[object]]
BeforeCall = Callable[[str], object | Awaitable[object]]


class AsyncClient:
    """Item id in, product out: a dependable client of the task-backed v2 endpoint.

    ``token`` defaults to ``JDITEM_TOKEN``, then ``JUSTONEAPI_TOKEN``. ``base_url`` is a
    preset (``global``, ``cn``) or a URL (default ``JDITEM_BASE_URL`` or ``global``).
    Other keyword arguments are the fields of :class:`ClientConfig`. Pass
    ``http_client`` to reuse your own :class:`httpx.AsyncClient` (not closed for you).

    Example::

        async with AsyncClient() as client:
            product = await client.get("100012043978")
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        check_option_names(options, extra=("token", "http_client"))
        self._init(ClientConfig.build(token, **options), http_client, owns_http=None)

    def _init(
        self, config: ClientConfig, http_client: httpx.AsyncClient | None, *, owns_http: bool | None
    ) -> None:
        register_secret(config.token.get_secret_value())
        install_log_redaction()
        self._base = BaseClient(config)
        self._owns_http = http_client is None if owns_http is None else owns_http
        self._http = http_client or httpx.AsyncClient(
            timeout=self._base.timeout(), follow_redirects=False, trust_env=True
        )

    @property
    def config(self) -> ClientConfig:
        """The resolved configuration (its ``repr`` masks the token)."""
        return self._base.config

    @property
    def watch(self) -> AsyncWatchLists:
        """The watch lists of this token's account on a jditem server (SPEC §6.2):
        ``create``, ``list``, ``show``, ``update``, ``pause``, ``resume``, ``delete``,
        ``add``, ``remove``, ``items`` (see :mod:`jditem.client.watch`)."""
        return AsyncWatchLists(WatchCore(self._base), self._http)

    @property
    def key_evidence(self) -> KeyEvidence:
        """Whether the server said it honours ``Idempotency-Key`` (``.honoured``, ``.ttl``):
        the only ground on which an ambiguous call is resent."""
        return self._base.evidence

    def with_options(self, **changes: Unpack[ClientOptions]) -> AsyncClient:
        """A new client with ``changes`` applied, sharing this one's connection pool.

        The copy is usable while this client is open; closing the copy closes nothing.
        """
        clone = object.__new__(type(self))
        clone._init(self.config.replace(**changes), self._http, owns_http=False)
        return clone

    # -- calls -------------------------------------------------------------------------

    async def _send(self, step: Send) -> tuple[Classified, httpx.Response | None]:
        started = time.perf_counter()
        try:
            response = await self._http.get(
                step.url, params=step.params, headers=step.headers, timeout=step.timeout
            )
        except httpx.HTTPError as exc:
            elapsed = time.perf_counter() - started
            return self._base.classify_exception(step.item_id, exc, elapsed_s=elapsed), None
        classified = self._base.classify_response(
            step.item_id,
            response.status_code,
            response.headers,
            response.content,
            elapsed_s=time.perf_counter() - started,
        )
        return classified, response

    async def _classified(self, step: Send) -> Classified:
        return (await self._send(step))[0]

    async def fetch(self, item_id: str, *, idempotency_key: str | None = None) -> Envelope:
        """Exactly one HTTP call; returns the envelope whatever its business code.

        No retries, no polling. Raises only when there is no envelope to return:
        transport failures, a body that is not an envelope (``ProtocolError``), or
        HTTP 429/503 without a body code (``RateLimitError`` / ``CollectionFailedError``).
        ``idempotency_key`` is sent as the ``Idempotency-Key`` header (see :meth:`get`).
        """
        step = GetFlow(self._base, item_id, idempotency_key=idempotency_key).request()
        classified, _ = await self._send(step)
        if classified.envelope is None:
            assert classified.error is not None
            raise classified.error
        return classified.envelope

    async def probe(self, item_id: str) -> ProbeResult:
        """One HTTP call; the redacted raw response with its classification."""
        classified, response = await self._send(GetFlow(self._base, item_id).request())
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

    async def get(
        self,
        item_id: str,
        *,
        deadline: float | None = None,
        on_call: OnCall | None = None,
        before_call: BeforeCall | None = None,
        idempotency_key: str | None = None,
    ) -> Product:
        """Submit, wait out pending, return the product; raise a typed error otherwise.

        ``item_id`` is 1-20 ASCII digits or a JD item URL
        (``https://item.jd.com/100012043978.html``). ``deadline`` (seconds, default the
        client's, 15 min) bounds everything: calls and waits. ``on_call`` receives a
        :class:`CallInfo` after every HTTP call; an exception it raises stops ``get``.
        ``before_call(item_id)`` runs before every HTTP call; an exception it raises
        stops ``get`` before the call is made. A hook that returns an awaitable (a
        coroutine function) is awaited.

        ``idempotency_key`` is sent as the ``Idempotency-Key`` header with every call
        (1-128 printable ASCII characters, never containing the token; one key per item
        and logical fetch; default: a fresh one per ``get``): a server that honours it
        (jditem's own) charges the item at most once per key, so a repeat after a crash or
        a lost answer is free. The vendor ignores the header — there the guarantee does
        not hold.

        A call that was sent but got no complete answer (read timeout, connection lost,
        truncated or invalid body) may have been charged: it is resent only when the
        server said it honours keys (``Idempotency-Key-Honoured`` on an earlier answer);
        otherwise it raises an :class:`~jditem.errors.AmbiguousOutcomeError` that says so.

        Each wait before a retry or poll is logged at INFO on the ``jditem.client``
        logger as it starts (see :mod:`jditem.client.flow`).
        """
        flow = GetFlow(
            self._base,
            item_id,
            deadline=deadline,
            idempotency_key=idempotency_key,
            auto_key=True,
        )
        return await drive_async(
            flow.steps(), self._classified, asyncio.sleep, before_call, on_call
        )

    async def resume(
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
        flow = GetFlow.resume(self._base, continuation, deadline=deadline)
        return await drive_async(flow.steps(), self._classified, asyncio.sleep, None, on_call)

    def get_many(
        self,
        ids: Iterable[str],
        *,
        concurrency: int = 8,
        rate: float | None = None,
        deadline: float | None = None,
        on_call: Callable[[CallInfo], object] | None = None,
    ) -> AsyncIterator[Any]:
        """Fetch many items; yield a ``jditem.batch.ItemResult`` for each as it completes.

        Duplicates are collapsed. At most ``concurrency`` calls are on the wire; call
        starts are spaced smoothly at up to ``rate`` per second (``None``: unlimited until
        the server throttles), cut on 302 / HTTP 429 and raised again after successes.
        Per-item errors come back in the result; a fatal answer (100, 303, 600, 601,
        602) stops new calls at once and is raised after the results still in flight::

            async for result in client.get_many(ids, concurrency=8, rate=10):
                print(result.item_id, result.product or result.error)
        """
        from jditem.client.many import get_many

        return get_many(
            self, ids, concurrency=concurrency, rate=rate, deadline=deadline, on_call=on_call
        )

    # -- lifecycle ---------------------------------------------------------------------

    async def close(self) -> None:
        """Close the connection pool (unless it was passed in or shared)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._base.describe()})"
