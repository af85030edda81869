"""The blocking ``get_many`` (:meth:`Client.get_many`): the async engine on an event loop
in a helper thread, the results handed over through a small bounded queue."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from typing import Any

import httpx

from jditem import errors
from jditem.client.async_ import AsyncClient
from jditem.client.config import ClientConfig
from jditem.client.many import DEFAULT_CONCURRENCY, get_many
from jditem.client.results import ItemResult


class _ThreadedTransport(httpx.AsyncBaseTransport):
    """Sends each request through the caller's own blocking :class:`httpx.Client`.

    Used by the sync ``get_many``: the run's event loop lives in a helper thread and
    hands every call to a worker thread, so the caller's transport, proxies,
    certificates, event hooks and connection pool are the ones used.
    """

    def __init__(self, client: httpx.Client, executor: ThreadPoolExecutor) -> None:
        self._client = client
        self._executor = executor

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        def send() -> httpx.Response:
            sync_request = self._client.build_request(
                request.method,
                request.url,
                headers=request.headers,
                extensions=request.extensions,
            )
            response = self._client.send(sync_request)
            response.read()
            return response

        response = await asyncio.get_running_loop().run_in_executor(self._executor, send)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=response.content,
            request=request,
            extensions={"http_version": response.extensions.get("http_version", b"HTTP/1.1")},
        )


def get_many_sync(
    config: ClientConfig,
    ids: Iterable[str],
    *,
    http_client: httpx.Client | None = None,
    **options: Any,
) -> Iterator[ItemResult]:
    """The blocking twin: runs :func:`get_many` on an event loop in a helper thread.

    With ``http_client`` every call goes through it (see :class:`_ThreadedTransport`).
    Results cross over through a small bounded queue; closing the iterator early
    cancels the run (calls on the wire are abandoned, none is started afterwards).
    """
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max(2, 2 * DEFAULT_CONCURRENCY))
    closing = threading.Event()
    state: dict[str, Any] = {}

    def put(kind: str, value: Any) -> bool:
        while not closing.is_set():
            try:
                handoff.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    async def main() -> None:
        state["loop"] = asyncio.get_running_loop()
        state["task"] = asyncio.current_task()
        options_ = {f.name: getattr(config, f.name) for f in fields(config)}
        own_http = None
        if http_client is not None:
            # One thread per wire slot: the default executor has only cpu + 4 threads.
            workers = int(options.get("concurrency", DEFAULT_CONCURRENCY))
            executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jditem-http")
            state["executor"] = executor
            own_http = httpx.AsyncClient(
                transport=_ThreadedTransport(http_client, executor), follow_redirects=False
            )
        try:
            async with AsyncClient(http_client=own_http, **options_) as client:
                try:
                    async for result in get_many(client, ids, **options):
                        # Off the loop thread: calls on the wire go on while the caller is busy.
                        if not await asyncio.to_thread(put, "item", result):
                            return
                except errors.JditemError as exc:
                    put("error", exc)
                    return
        finally:
            if own_http is not None:
                await own_http.aclose()
                state["executor"].shutdown(wait=False, cancel_futures=True)
        put("done", None)

    def runner() -> None:
        try:
            asyncio.run(main())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # surfaced to the consumer thread
            put("error", exc)

    thread = threading.Thread(target=runner, name="jditem-get-many", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        closing.set()
        loop, task = state.get("loop"), state.get("task")
        if loop is not None and task is not None and not task.done():
            loop.call_soon_threadsafe(task.cancel)
        thread.join(timeout=10)
