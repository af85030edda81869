"""A bounded pool of workers over a stream of item ids, results as they complete.

Memory stays bounded by two small queues whatever the length of the stream; a stop
(``stopping()``) ends the feeding and lets the workers drain what they hold; closing the
iterator early cancels every worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import TypeVar

R = TypeVar("R")


async def run_workers(
    ids: Iterable[str] | AsyncIterable[str],
    workers: int,
    handle: Callable[[str], Awaitable[R | None]],
    stopping: Callable[[], bool],
) -> AsyncIterator[R]:
    """``handle(item_id)`` on ``workers`` workers; yield each result that is not ``None``."""
    inbox: asyncio.Queue[str | None] = asyncio.Queue(maxsize=workers)
    outbox: asyncio.Queue[R | None] = asyncio.Queue(maxsize=workers)

    async def produce() -> None:
        if isinstance(ids, AsyncIterable):
            async for item_id in ids:
                if stopping():
                    break
                await inbox.put(item_id)
        else:
            for item_id in ids:
                if stopping():
                    break
                await inbox.put(item_id)
        # Not in a ``finally``: when cancelled, the workers are cancelled too, and a
        # blocking put into a full queue would never return.
        for _ in range(workers):
            await inbox.put(None)

    async def work() -> None:
        while (item_id := await inbox.get()) is not None:
            if stopping():
                continue
            result = await handle(item_id)
            if result is not None:
                await outbox.put(result)

    async def supervise() -> None:
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(produce())
                for _ in range(workers):
                    group.create_task(work())
        finally:
            await outbox.put(None)

    supervisor = asyncio.create_task(supervise())
    try:
        while (result := await outbox.get()) is not None:
            yield result
        await supervisor
    finally:
        if not supervisor.done():
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
