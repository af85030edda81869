"""Event-driven wake-ups: "a task for this item reached a final state" and "work queued".

Waiters never poll the database: they subscribe *before* reading the task's state
(so a notification between the read and the wait is not lost), then sleep on the
subscription. Two channels exist:

* per item (``notify`` / ``subscribe`` / ``wait``): sent after a task for the item
  reached a final state (succeeded, not_supported, failed);
* work (``notify_work`` / ``subscribe_work``): sent when a task was queued or put back
  in the queue, so an idle worker claims it at once instead of at its next poll. It
  wakes *one* idle worker, not all of them: with many workers, waking every one for
  each new task made them all race for the same row (a thundering herd of claim
  queries that starved the database). A worker that claimed a task passes the signal
  on, so a burst of tasks still fans out to as many workers as it needs.

:class:`InProcessNotifier` serves one process (asyncio events): the embedded
profile. :class:`~jditem.server.shared.notify_redis.RedisNotifier` serves several
processes (scale-out profile) through Redis; it delivers to its own process with an
:class:`InProcessNotifier`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

#: Channel name used for "work queued"; item ids are digits, so it cannot collide.
WORK_CHANNEL = "__work__"


class Subscription(Protocol):
    """A registered interest in one channel; notifications are latched until waited on."""

    async def wait(self, timeout: float) -> bool:  # noqa: ASYNC109 (seam API)
        """Wait up to ``timeout`` seconds; True if notified (since the last wait)."""
        ...


class Notifier(Protocol):
    """Wake-up signals between task producers, workers and waiters."""

    async def notify(self, item_id: str) -> None:
        """Signal that a task for ``item_id`` reached a final state."""
        ...

    async def wait(self, item_id: str, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait up to ``timeout`` seconds for the next ``notify(item_id)``; False on timeout."""
        ...

    def subscribe(self, item_id: str) -> AbstractAsyncContextManager[Subscription]:
        """Subscribe to ``item_id`` before reading state, then wait on the subscription."""
        ...

    async def notify_work(self) -> None:
        """Signal that a task was queued (or re-queued) and can be claimed: wake one worker."""
        ...

    def subscribe_work(self) -> AbstractAsyncContextManager[Subscription]:
        """Subscribe to "work queued" signals (used by idle workers)."""
        ...


class _EventSubscription:
    """One subscriber's latch: set by ``notify``, cleared by a successful ``wait``."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()

    @property
    def fired(self) -> bool:
        """True while a notification is latched (not yet consumed by ``wait``)."""
        return self._event.is_set()

    async def wait(self, timeout: float) -> bool:  # noqa: ASYNC109 (seam API)
        if not self._event.is_set():
            if timeout <= 0:
                return False
            try:
                await asyncio.wait_for(self._event.wait(), timeout)
            except TimeoutError:
                return False
        self._event.clear()
        return True


class InProcessNotifier:
    """:class:`Notifier` for one process and one event loop, built on asyncio events.

    Call its methods from the event loop that runs the server (not from other threads).
    """

    def __init__(self) -> None:
        self._channels: dict[str, set[_EventSubscription]] = {}

    def subscribers(self, channel: str) -> int:
        """How many subscriptions are open on ``channel`` (for tests and diagnostics)."""
        return len(self._channels.get(channel, ()))

    def _fire(self, channel: str) -> None:
        for sub in self._channels.get(channel, ()):
            sub.fire()

    @asynccontextmanager
    async def _subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        sub = _EventSubscription()
        self._channels.setdefault(channel, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._channels.get(channel)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._channels[channel]

    async def notify(self, item_id: str) -> None:
        """Wake every subscriber of ``item_id``."""
        self._fire(item_id)

    def fire(self, item_id: str) -> None:
        """:meth:`notify` for synchronous callers (e.g. a message from another process)."""
        self._fire(item_id)

    async def wait(self, item_id: str, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait for the next ``notify(item_id)`` (notifications sent before the call are missed)."""
        async with self._subscribe(item_id) as sub:
            return await sub.wait(timeout)

    def subscribe(self, item_id: str) -> AbstractAsyncContextManager[Subscription]:
        """Register for ``item_id`` notifications for the duration of the ``async with``."""
        return self._subscribe(item_id)

    async def notify_work(self) -> None:
        """Wake one idle worker (one whose subscription is not already signalled)."""
        for sub in self._channels.get(WORK_CHANNEL, ()):
            if not sub.fired:
                sub.fire()
                return

    def subscribe_work(self) -> AbstractAsyncContextManager[Subscription]:
        """Register for "work queued" signals for the duration of the ``async with``."""
        return self._subscribe(WORK_CHANNEL)
