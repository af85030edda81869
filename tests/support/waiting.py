"""Wait on a condition, never on the clock: tests must pass on 2 busy cores.

``wait_until(lambda: ..., what="...")`` polls a condition until it holds or a generous
deadline (default 30 s) passes, then fails naming what did not happen. Use it instead of
``sleep(x)`` followed by an assertion that something happened within ``x``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

#: Seconds a condition may take on a loaded machine before the test fails.
GENEROUS = 30.0


def wait_until(
    condition: Callable[[], T], what: str, *, timeout: float = GENEROUS, interval: float = 0.02
) -> T:
    """Poll ``condition()`` until it returns a truthy value (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)


async def await_until(
    condition: Callable[[], T | Awaitable[T]],
    *,
    what: str,
    timeout: float = GENEROUS,
    interval: float = 0.02,
) -> T:
    """The async twin of :func:`wait_until` (``condition`` may be a coroutine function)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(interval)


async def callbacks_so_far() -> None:
    """Return once the callbacks scheduled before this call (a transport's flush, a new
    task's first step) have run: the loop runs ``call_soon`` callbacks in order, so this
    is an ordering, not a wait for time."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    loop.call_soon(done.set_result, None)
    await done
