"""The asynchronous client, :class:`AsyncClient` (twin of :class:`jditem.Client`).

Cancellation-friendly: cancelling the task running ``get`` interrupts the current
HTTP call or wait at once, and nothing is left behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Self

import httpx

from jditem import errors
from jditem.client.calls import CallInfo, Classified
from jditem.client.changes import AsyncChangeFeed
from jditem.client.flow import GetFlow, Send, drive_async
from jditem.client.history import When, history_request, read_history
from jditem.client.many import get_many
from jditem.client.probe import ProbeResult
from jditem.client.results import ItemResult
from jditem.client.twin import Twin
from jditem.client.watch import AsyncWatchLists, WatchCore
from jditem.protocol.envelope import Envelope
from jditem.protocol.monitoring import ItemHistory
from jditem.protocol.product import Product

OnCall = Callable[[CallInfo], object | Awaitable[object]]
BeforeCall = Callable[[str], object | Awaitable[object]]


class AsyncClient(Twin[httpx.AsyncClient]):
    """The asynchronous twin of :class:`~jditem.Client`: the same methods with the same
    arguments and rules, awaited. Pass ``http_client`` to reuse your own
    :class:`httpx.AsyncClient` (it is not closed for you).

    Example::

        async with AsyncClient() as client:
            product = await client.get("100012043978")
    """

    def _new_pool(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(**self._pool_options())

    @property
    def watch(self) -> AsyncWatchLists:
        """The watch lists of this token's account on a jditem server (SPEC §6.2):
        ``create``, ``list``, ``show``, ``update``, ``pause``, ``resume``, ``delete``,
        ``add``, ``remove``, ``items`` (see :mod:`jditem.client.watch`)."""
        return AsyncWatchLists(WatchCore(self._base), self._http)

    def changes(
        self, since: str | None = None, *, list_name: str | None = None, limit: int = 100
    ) -> AsyncChangeFeed:
        """The change events of this token's account after the cursor ``since`` (SPEC
        §6.3), in order, ``limit`` per request, until none is left now; ``.cursor`` on the
        feed resumes later without loss or repeats (see :mod:`jditem.client.changes`).
        ``list_name`` keeps one watch list's events. Free; errors are the typed errors."""
        watch = self.watch
        return AsyncChangeFeed(
            lambda cursor: watch.changes_page(cursor, limit=limit, list_name=list_name), since
        )

    # -- calls -------------------------------------------------------------------------

    async def _send(self, step: Send) -> tuple[Classified, httpx.Response | None]:
        started = time.perf_counter()
        try:
            response = await self._http.get(
                step.url, params=step.params, headers=step.headers, timeout=step.timeout
            )
        except httpx.HTTPError as exc:
            return self._failed(step, exc, started), None
        return self._answered(step, response, started), response

    async def _classified(self, step: Send) -> Classified:
        return (await self._send(step))[0]

    async def fetch(self, item_id: str, *, idempotency_key: str | None = None) -> Envelope:
        """Exactly one HTTP call; the envelope whatever its code (see :meth:`Client.fetch`)."""
        step = GetFlow(self._base, item_id, idempotency_key=idempotency_key).request()
        return self._envelope(await self._classified(step))

    async def probe(self, item_id: str) -> ProbeResult:
        """One HTTP call; the redacted raw response with its classification."""
        return self._probe(*await self._send(GetFlow(self._base, item_id).request()))

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

        The arguments and rules are those of :meth:`Client.get`; a hook that returns an
        awaitable (a coroutine function) is awaited.
        """
        flow = GetFlow(
            self._base, item_id, deadline=deadline, idempotency_key=idempotency_key, auto_key=True
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
        before_call: BeforeCall | None = None,
        idempotency_key: str | None = None,
    ) -> Product:
        """Continue waiting for an item after :class:`~jditem.errors.PendingTimeoutError`
        (see :meth:`Client.resume`)."""
        flow = GetFlow.resume(
            self._base, continuation, deadline=deadline, idempotency_key=idempotency_key
        )
        return await drive_async(
            flow.steps(), self._classified, asyncio.sleep, before_call, on_call
        )

    def get_many(
        self,
        ids: Iterable[str],
        *,
        concurrency: int = 8,
        rate: float | None = None,
        deadline: float | None = None,
        on_call: Callable[[CallInfo], object] | None = None,
    ) -> AsyncIterator[ItemResult]:
        """Fetch many items; yield an :class:`~jditem.client.results.ItemResult` for each as it
        completes (the rules of :meth:`Client.get_many`)::

            async for result in client.get_many(ids, concurrency=8, rate=10):
                print(result.item_id, result.product or result.error)
        """
        return get_many(
            self, ids, concurrency=concurrency, rate=rate, deadline=deadline, on_call=on_call
        )

    async def history(
        self,
        item_id: str,
        *,
        since: When = None,
        until: When = None,
        limit: int | None = None,
    ) -> ItemHistory:
        """The item's change points (the rules of :meth:`Client.history`)."""
        step = history_request(self._base, item_id, since=since, until=until, limit=limit)
        return read_history(await self._classified(step), step.item_id)

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
