"""The health window of SPEC §2.7 aggregated over every process, in Redis.

Each process counts its outcomes in memory (the embedded :class:`HealthWindow`) and,
once a second, adds what it counted since to shared per-10-second counters in Redis
(``HINCRBY``; keys expire after the window) and reads the window's totals back. So
:meth:`SharedHealthWindow.report` answers from memory — no Redis round trip per
request — with the totals of all processes, at most about a second old.

While Redis is unreachable the report falls back to this process's own window;
``/api/health`` says "degraded" meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from jditem.server.settings import Settings
from jditem.server.shared.health import HealthReport, HealthWindow, health_report, outcome_slot
from jditem.server.shared.redis_link import PREFIX, REDIS_ERRORS, RedisLink

log = logging.getLogger(__name__)

#: Width of one shared counter (seconds).
SLOT_SECONDS = 10
#: How often counts are pushed and totals read back.
SYNC_SECONDS = 1.0
#: Shared totals older than this are not trusted (the local window answers).
STALE_SECONDS = 5.0
KEY_PREFIX = PREFIX + "health:"


class SharedHealthWindow(HealthWindow):
    """:class:`HealthWindow` whose report covers every process (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        link: RedisLink,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings, monotonic=monotonic)
        self._link = link
        self._wall = wall
        self._monotonic_clock = monotonic
        # slot start (wall seconds) -> [ok, failed] not yet pushed
        self._pending: dict[int, list[int]] = {}
        # counts taken by a sync whose Redis round trip has not answered yet: still
        # reported, or they would vanish from the report for the length of that trip
        self._in_flight: dict[int, list[int]] = {}
        # (ok, failed) of every process at the last sync, and when it was read
        self._shared: tuple[int, int] | None = None
        self._shared_at = 0.0
        self._task: asyncio.Task[None] | None = None

    def observe(self, code: int) -> None:
        """Count ``code`` here and queue it for the shared counters."""
        super().observe(code)
        index = outcome_slot(code)
        if index is None:
            return
        slot = int(self._wall()) // SLOT_SECONDS * SLOT_SECONDS
        self._pending.setdefault(slot, [0, 0])[index] += 1

    def report(self) -> HealthReport:
        """Totals of every process when fresh, else this process's own window."""
        shared = self._shared
        if shared is None or self._monotonic_clock() - self._shared_at > STALE_SECONDS:
            return super().report()
        unsynced = [*self._pending.values(), *self._in_flight.values()]
        ok = shared[0] + sum(p[0] for p in unsynced)
        failed = shared[1] + sum(p[1] for p in unsynced)
        return health_report(self._settings, ok, failed)

    async def sync(self) -> None:
        """Push pending counts and read the shared window totals (never raises)."""
        if not self._link.up:
            return
        pending, self._pending = self._pending, {}
        self._in_flight = pending
        window = self._settings.health_window_seconds
        now = int(self._wall())
        first = (now - window) // SLOT_SECONDS * SLOT_SECONDS + SLOT_SECONDS
        slots = range(first, now + 1, SLOT_SECONDS)
        ttl = window + 2 * SLOT_SECONDS
        try:
            async with self._link.client.pipeline(transaction=False) as pipe:
                for slot, (ok, failed) in pending.items():
                    key = f"{KEY_PREFIX}{slot}"
                    pipe.hincrby(key, "ok", ok)
                    pipe.hincrby(key, "failed", failed)
                    pipe.expire(key, ttl)
                for slot in slots:
                    pipe.hmget(f"{KEY_PREFIX}{slot}", ["ok", "failed"])
                results = await pipe.execute()
        except REDIS_ERRORS as exc:
            self._in_flight = {}
            self._link.failed(exc)
            for slot, (ok, failed) in pending.items():  # keep them for the next sync
                kept = self._pending.setdefault(slot, [0, 0])
                kept[0] += ok
                kept[1] += failed
            return
        totals = [0, 0]
        for values in results[3 * len(pending) :]:
            totals[0] += int(values[0] or 0)
            totals[1] += int(values[1] or 0)
        self._shared = (totals[0], totals[1])
        self._shared_at = self._monotonic_clock()
        self._in_flight = {}

    async def start(self) -> None:
        """Sync once a second in the background."""
        self._task = asyncio.get_running_loop().create_task(self._sync_forever())

    async def _sync_forever(self) -> None:
        while True:
            await self.sync()
            await asyncio.sleep(SYNC_SECONDS)

    async def stop(self) -> None:
        """Push what is pending (bounded) and stop."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await asyncio.wait_for(self.sync(), 2.0)
        except TimeoutError:
            log.warning("health counts not pushed to redis at shutdown (timeout)")
