"""The health window of SPEC §2.7 aggregated over every process, in Redis.

Each process counts its outcomes in memory (the embedded :class:`HealthWindow`) and,
once a second, adds what it counted since to the shared window in Redis and reads the
window's totals back, in one script call (:data:`WINDOW_LUA`). So
:meth:`SharedHealthWindow.report` answers from memory — no Redis round trip per
request — with the totals of all processes, at most about a second old.

The shared window is ONE hash: per-10-second counters (``<slot>:ok``,
``<slot>:failed``), running totals of the counters inside the window (``ok``,
``failed``) and the oldest slot the totals still hold (``oldest``). A sync adds its
counts to both; the slots that left the window are subtracted from the totals and
deleted as they leave (a slot every 10 seconds), so a sync reads two totals, not the
window's 90 slots. One key with one expiry: the totals never outlive their slots.

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
#: The shared window's hash.
WINDOW_KEY = PREFIX + "health:window"

#: KEYS[1] = the window's hash; ARGV = first slot inside the window, slot width,
#: expiry (s), then pairs of (slot, "ok,failed") to add. Returns {ok, failed} of the
#: window. Slots before the first leave the totals; counts for a slot that already
#: left (``oldest`` is past it: this process's clock lags another's) are outside the
#: window and not added.
WINDOW_LUA = """
local key = KEYS[1]
local first = tonumber(ARGV[1])
local width = tonumber(ARGV[2])
local oldest = tonumber(redis.call('HGET', key, 'oldest') or first)
if first - oldest > tonumber(ARGV[3]) + width then
  -- not synced for longer than the expiry (a clock jump): recount what is left
  local ok, failed = 0, 0
  local fields = redis.call('HGETALL', key)
  for i = 1, #fields, 2 do
    local slot, kind = string.match(fields[i], '^(%d+):(%a+)$')
    if slot ~= nil then
      if tonumber(slot) < first then
        redis.call('HDEL', key, fields[i])
      elseif kind == 'ok' then
        ok = ok + tonumber(fields[i + 1])
      else
        failed = failed + tonumber(fields[i + 1])
      end
    end
  end
  redis.call('HSET', key, 'ok', ok, 'failed', failed)
  oldest = first
end
while oldest < first do
  local gone = redis.call('HMGET', key, oldest .. ':ok', oldest .. ':failed')
  if gone[1] then
    redis.call('HINCRBY', key, 'ok', 0 - tonumber(gone[1]))
    redis.call('HDEL', key, oldest .. ':ok')
  end
  if gone[2] then
    redis.call('HINCRBY', key, 'failed', 0 - tonumber(gone[2]))
    redis.call('HDEL', key, oldest .. ':failed')
  end
  oldest = oldest + width
end
local ok, failed = 0, 0
for i = 4, #ARGV, 2 do
  local slot = tonumber(ARGV[i])
  if slot >= oldest then
    local o, f = string.match(ARGV[i + 1], '^(%d+),(%d+)$')
    o, f = tonumber(o), tonumber(f)
    if o > 0 then
      redis.call('HINCRBY', key, slot .. ':ok', o)
      ok = ok + o
    end
    if f > 0 then
      redis.call('HINCRBY', key, slot .. ':failed', f)
      failed = failed + f
    end
  end
end
if ok > 0 then redis.call('HINCRBY', key, 'ok', ok) end
if failed > 0 then redis.call('HINCRBY', key, 'failed', failed) end
redis.call('HSET', key, 'oldest', oldest)
redis.call('EXPIRE', key, ARGV[3])
local totals = redis.call('HMGET', key, 'ok', 'failed')
return {tonumber(totals[1] or '0'), tonumber(totals[2] or '0')}
"""


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
        self._script = link.client.register_script(WINDOW_LUA)
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
        ttl = window + 2 * SLOT_SECONDS
        args: list[int | str] = [first, SLOT_SECONDS, ttl]
        for slot, (ok, failed) in pending.items():
            args += [slot, f"{ok},{failed}"]
        try:
            totals = await self._script(keys=[WINDOW_KEY], args=args)
        except REDIS_ERRORS as exc:
            self._in_flight = {}
            self._link.failed(exc)
            for slot, (ok, failed) in pending.items():  # keep them for the next sync
                kept = self._pending.setdefault(slot, [0, 0])
                kept[0] += ok
                kept[1] += failed
            return
        self._shared = (int(totals[0]), int(totals[1]))
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
