""":class:`~jditem.server.shared.notify.Notifier` for several processes (scale-out profile).

* "A task for this item finished" goes out on the broadcast (Redis pub/sub), so the
  waiters of every process wake within milliseconds; this process's waiters are woken
  directly, without a round trip.
* "Work queued" wakes ONE idle worker anywhere: an idle worker of this process if there
  is one (no round trip), else a signal is pushed on a Redis list, and the one process
  whose idle worker pops it (``BLPOP``) wakes that worker. A process with no idle worker
  does not pop, so a signal goes where a worker waits.

Fallback (SPEC §2.8): while Redis or the subscription is down, every wait is capped at
:data:`DEGRADED_POLL_SECONDS`, so waiters and idle workers re-read the database at
least once a second; nothing is lost, only slower.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress

from redis.asyncio import Redis

from jditem.server.shared.broadcast import TASK_DONE
from jditem.server.shared.broadcast_redis import RedisBroadcast
from jditem.server.shared.notify import InProcessNotifier, Subscription
from jditem.server.shared.redis_link import HEARTBEAT_SECONDS, PREFIX, REDIS_ERRORS, RedisLink

log = logging.getLogger(__name__)

#: Longest wait while wake-ups cannot cross processes (database polling instead).
DEGRADED_POLL_SECONDS = 1.0
#: The list of "work queued" signals.
WORK_KEY = PREFIX + "work"
#: Signals kept at most (stale ones only cost an idle worker one empty claim).
WORK_SIGNALS_MAX = 64
#: BLPOP timeout (seconds): how often the popper re-checks that a worker is still idle.
POP_SECONDS = 1


class _Capped:
    """An item subscription whose waits are capped while cross-process wake-ups are down."""

    __slots__ = ("_inner", "_owner")

    def __init__(self, inner: Subscription, owner: RedisNotifier) -> None:
        self._inner = inner
        self._owner = owner

    async def wait(self, timeout: float) -> bool:  # noqa: ASYNC109 (seam API)
        if not self._owner.cross_process:
            timeout = min(timeout, DEGRADED_POLL_SECONDS)
        return await self._inner.wait(timeout)


class _WorkerLatch:
    """One worker's "work queued" latch; ``waiting`` while the worker is idle in :meth:`wait`."""

    __slots__ = ("_event", "_owner", "waiting")

    def __init__(self, owner: RedisNotifier) -> None:
        self._event = asyncio.Event()
        self._owner = owner
        self.waiting = False

    def fire(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> bool:  # noqa: ASYNC109 (seam API)
        if not self._event.is_set():
            if not self._owner.cross_process:
                timeout = min(timeout, DEGRADED_POLL_SECONDS)
            self.waiting = True
            self._owner.idle_changed()
            try:
                await asyncio.wait_for(self._event.wait(), timeout)
            except TimeoutError:
                return False
            finally:
                self.waiting = False
        self._event.clear()
        return True


class RedisNotifier:
    """Wake-ups across processes through Redis (see the module docstring)."""

    def __init__(self, link: RedisLink, broadcast: RedisBroadcast) -> None:
        self._link = link
        self._broadcast = broadcast
        self.local = InProcessNotifier()
        self._workers: list[_WorkerLatch] = []
        self._idle = asyncio.Event()
        self._popper: asyncio.Task[None] | None = None
        self._stopping = False
        broadcast.listen(TASK_DONE, self.local.fire)

    @property
    def cross_process(self) -> bool:
        """True when wake-ups reach the other processes."""
        return self._link.up and self._broadcast.connected

    def idle_changed(self) -> None:
        """A local worker started waiting: let the popper fetch a signal for it."""
        self._idle.set()

    async def notify(self, item_id: str) -> None:
        """Wake the waiters of ``item_id`` in every process."""
        await self._broadcast.publish(TASK_DONE, item_id)

    async def wait(self, item_id: str, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait for the next ``notify(item_id)`` from any process."""
        async with self.subscribe(item_id) as sub:
            return await sub.wait(timeout)

    @asynccontextmanager
    async def _subscribe(self, item_id: str) -> AsyncIterator[Subscription]:
        async with self.local.subscribe(item_id) as inner:
            yield _Capped(inner, self)

    def subscribe(self, item_id: str) -> AbstractAsyncContextManager[Subscription]:
        """Subscribe to ``item_id`` (finished in any process) before reading its state."""
        return self._subscribe(item_id)

    def _wake_local(self) -> bool:
        for worker in self._workers:
            if worker.waiting:
                worker.waiting = False  # taken: a second signal goes to another worker
                worker.fire()
                return True
        return False

    async def notify_work(self) -> None:
        """Wake one idle worker: here if one waits, else in whichever process pops first."""
        if self._wake_local() or not self._link.up:
            return
        try:
            async with self._link.client.pipeline(transaction=False) as pipe:
                pipe.lpush(WORK_KEY, "1")
                pipe.ltrim(WORK_KEY, 0, WORK_SIGNALS_MAX - 1)
                await pipe.execute()
        except REDIS_ERRORS as exc:
            self._link.failed(exc)

    @asynccontextmanager
    async def _subscribe_work(self) -> AsyncIterator[Subscription]:
        worker = _WorkerLatch(self)
        self._workers.append(worker)
        try:
            yield worker
        finally:
            self._workers.remove(worker)

    def subscribe_work(self) -> AbstractAsyncContextManager[Subscription]:
        """Register a worker for "work queued" signals from any process."""
        return self._subscribe_work()

    async def start(self) -> None:
        """Start popping work signals for this process's idle workers."""
        self._popper = asyncio.get_running_loop().create_task(self._pop_forever())

    async def stop(self) -> None:
        """Stop the popper (bounded: redis-py may swallow a cancel inside BLPOP)."""
        self._stopping = True
        self._idle.set()
        if self._popper is not None:
            self._popper.cancel()
            await asyncio.wait([self._popper], timeout=POP_SECONDS + 3.0)
            self._popper = None

    async def _pop_forever(self) -> None:
        client = Redis.from_url(
            self._link.url, socket_timeout=POP_SECONDS + 2.0, socket_connect_timeout=1.0
        )
        try:
            while not self._stopping:
                await self._idle.wait()
                if self._stopping:
                    break
                if not any(w.waiting for w in self._workers):
                    self._idle.clear()
                    continue
                if not self._link.up:
                    await asyncio.sleep(HEARTBEAT_SECONDS)
                    continue
                try:
                    popped = await client.blpop([WORK_KEY], timeout=POP_SECONDS)
                    if popped is not None and not self._wake_local():
                        await client.lpush(WORK_KEY, "1")  # nobody idle here any more
                except REDIS_ERRORS as exc:
                    self._link.failed(exc)
                    await asyncio.sleep(HEARTBEAT_SECONDS)
        finally:
            with suppress(*REDIS_ERRORS):
                await asyncio.shield(client.aclose())
