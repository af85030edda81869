"""The :class:`~jditem.server.shared.limiter.RateLimiter` shared by every process, in Redis.

One token bucket per key, kept in a Redis hash and updated by one Lua script, so
take-or-refuse is atomic across processes and machines: a token limited to R/s is
admitted at most R/s *in total* (SPEC §2.8), with the bucket refilled from Redis's own
clock (``TIME``), not from each process's.

The takes of one key queued in the same event-loop tick (concurrent calls of one
token) go to Redis as ONE script call that takes ``n`` slots and answers how many it
granted: the first ``k`` callers, in arrival order, are admitted and the rest are told
the wait — exactly what ``n`` calls one by one would have answered, in one round trip.

The limiter is generic — any caller may share a bucket by key (``token:<id>`` for the
v2 endpoint; e.g. ``upstream:relay`` for an upstream's rate limit).

When Redis is unreachable, each process falls back to its share of the limit: an
in-memory bucket of R/N with a burst of ⌈burst/N⌉, N = the live API processes seen at
the last heartbeat. Callers never see an error.
"""

from __future__ import annotations

import asyncio
import math

from jditem.server.shared.limiter import InMemoryRateLimiter, effective_burst
from jditem.server.shared.redis_link import PREFIX, REDIS_ERRORS, RedisLink

#: KEYS[1] = bucket; ARGV = rate, size, "take" | "refund", n (slots, default 1). Returns
#: {slots granted (the first callers'), the wait of the others as a string}.
BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local size = tonumber(ARGV[2])
local n = tonumber(ARGV[4] or '1')
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = size
  ts = now
end
tokens = math.min(size, tokens + math.max(0, now - ts) * rate)
local wait = 0
local granted = 0
if ARGV[3] == 'refund' then
  tokens = math.min(size, tokens + n)
else
  granted = math.min(n, math.floor(tokens))
  tokens = tokens - granted
  if granted < n then
    wait = (1 - tokens) / rate
  end
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
           'ts', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(size / rate * 1000) + 1000)
return {granted, string.format('%.6f', wait)}
"""

#: Key prefix of the buckets.
BUCKET_PREFIX = PREFIX + "bucket:"

#: A queued take's answer when Redis failed: the caller takes the fallback (a real wait
#: is never negative).
_FALLBACK = -1.0

#: The takes queued in one tick: (key, rate, bucket size) -> each caller's answer.
_Group = tuple[str, float, int]


class RedisRateLimiter:
    """Token buckets in Redis (atomic script), with a per-process share as fallback."""

    def __init__(self, link: RedisLink, *, fallback: InMemoryRateLimiter | None = None) -> None:
        self._link = link
        self._script = link.client.register_script(BUCKET_LUA)
        self._fallback = fallback or InMemoryRateLimiter()
        # key -> (rate, burst) of the last acquire, so refund() can run the script.
        self._limits: dict[str, tuple[float, int]] = {}
        self._queued: dict[_Group, list[asyncio.Future[float | None]]] = {}
        self._sending: set[asyncio.Task[None]] = set()

    def _share(self, rate: float, burst: int | None) -> tuple[float, int]:
        processes = max(1, self._link.api_processes)
        size = effective_burst(rate, burst)
        return rate / processes, max(1, math.ceil(size / processes))

    async def acquire(self, key: str, rate: float, burst: int | None) -> float | None:
        """Take one slot of ``key``'s shared bucket: None when admitted, else seconds to wait."""
        size = effective_burst(rate, burst)
        if self._link.up:
            loop = asyncio.get_running_loop()
            group = (key, rate, size)
            answer: asyncio.Future[float | None] = loop.create_future()
            queued = self._queued.get(group)
            if queued is None:  # the first of this tick: send once the tick's others joined
                self._queued[group] = [answer]
                loop.call_soon(self._send, group)
            else:
                queued.append(answer)
            wait = await answer
            if wait != _FALLBACK:
                return wait
        share_rate, share_burst = self._share(rate, burst)
        return await self._fallback.acquire(key, share_rate, share_burst)

    def _send(self, group: _Group) -> None:
        answers = self._queued.pop(group)
        task = asyncio.get_running_loop().create_task(self._take(group, answers))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _take(self, group: _Group, answers: list[asyncio.Future[float | None]]) -> None:
        """Take ``len(answers)`` slots in one script call; answer each in arrival order."""
        key, rate, size = group
        try:
            granted, raw = await self._script(
                keys=[BUCKET_PREFIX + key], args=[rate, size, "take", len(answers)]
            )
        except REDIS_ERRORS as exc:
            self._link.failed(exc)
            results: list[float | None] = [_FALLBACK] * len(answers)
        except asyncio.CancelledError:  # shutting down: so are the callers
            for answer in answers:
                answer.cancel()
            raise
        except Exception as exc:  # not Redis's fault: each caller sees it, as before
            for answer in answers:
                if not answer.done():
                    answer.set_exception(exc)
            return
        else:
            if len(self._limits) > 100_000:
                self._limits.clear()
            self._limits[key] = (rate, size)
            wait = float(raw)
            results = [None if i < int(granted) else wait for i in range(len(answers))]
        for answer, result in zip(answers, results, strict=True):
            if not answer.done():  # a caller that gave up (cancelled) lost its slot
                answer.set_result(result)

    async def refund(self, key: str) -> None:
        """Give back one slot of ``key`` (never above the bucket size)."""
        limits = self._limits.get(key)
        if self._link.up and limits is not None:
            try:
                await self._script(
                    keys=[BUCKET_PREFIX + key], args=[limits[0], limits[1], "refund"]
                )
                return
            except REDIS_ERRORS as exc:
                self._link.failed(exc)
        await self._fallback.refund(key)
