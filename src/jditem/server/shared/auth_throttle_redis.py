"""The failed-credential throttle shared by every process, in Redis (scale-out profile).

The same rules as :class:`~jditem.server.shared.auth_throttle.AuthThrottle` — free failures,
then a doubling delay per key, and a global count per minute — but the failures live
in Redis (a hash per key, a sorted set of recent failures), updated by Lua scripts on
Redis's own clock, so N API processes throttle as one: a guesser spread over them gets
no more attempts than against a single process.

When Redis is unreachable each process falls back to its own in-memory throttle (the
parent class); callers never see an error.
"""

from __future__ import annotations

import math
import secrets
from typing import Any

from jditem.server.shared.auth_throttle import AuthThrottle, log
from jditem.server.shared.redis_link import PREFIX, REDIS_ERRORS, RedisLink

#: KEYS = per-key hash, global sorted set; ARGV = window, global limit, unique member.
#: Counts one failure and returns the key's failures in a row.
FAIL_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'count', 'last')
local count = tonumber(h[1]) or 0
local last = tonumber(h[2]) or now
if now - last > window then count = 0 end
count = count + 1
redis.call('HSET', KEYS[1], 'count', count, 'last', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
redis.call('ZADD', KEYS[2], now, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 60)
local n = redis.call('ZCARD', KEYS[2])
if n > limit then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - limit - 1) end
redis.call('PEXPIRE', KEYS[2], 61000)
return count
"""

#: KEYS as above; ARGV = window, free failures, max delay, global limit.
#: Returns the seconds the key must wait (as a string).
WAIT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
local free = tonumber(ARGV[2])
local most = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local wait = 0
local h = redis.call('HMGET', KEYS[1], 'count', 'last')
local count = tonumber(h[1])
local last = tonumber(h[2])
if count ~= nil and last ~= nil and now - last <= window and count >= free then
  wait = last + math.min(2 ^ math.min(count - free, 30), most) - now
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 60)
if redis.call('ZCARD', KEYS[2]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  wait = math.max(wait, tonumber(oldest[2]) + 60 - now)
end
return string.format('%.3f', wait)
"""


class RedisAuthThrottle(AuthThrottle):
    """:class:`AuthThrottle` whose failures are shared through Redis (see the module)."""

    def __init__(self, link: RedisLink, **rules: Any) -> None:
        super().__init__(**rules)
        self._link = link
        self._fail = link.client.register_script(FAIL_LUA)
        self._wait = link.client.register_script(WAIT_LUA)
        self._prefix = f"{PREFIX}auth:{self.what.replace(' ', '-')}:"

    def _keys(self, key: str) -> list[str]:
        return [self._prefix + "key:" + key, self._prefix + "recent"]

    async def retry_after(self, key: str) -> int:
        """Seconds ``key`` must wait before its next attempt (0 = go ahead)."""
        if self._link.up:
            try:
                raw = await self._wait(
                    keys=self._keys(key),
                    args=[
                        self.window_seconds,
                        self.free_failures,
                        self.max_delay_seconds,
                        self.global_per_minute,
                    ],
                )
            except REDIS_ERRORS as exc:
                self._link.failed(exc)
            else:
                return max(0, math.ceil(float(raw)))
        return await super().retry_after(key)

    async def failed(self, key: str, where: str) -> None:
        """Count a failed attempt of ``key`` in Redis (logged without the credential)."""
        if self._link.up:
            try:
                count = await self._fail(
                    keys=self._keys(key),
                    args=[self.window_seconds, self.global_per_minute, secrets.token_hex(8)],
                )
            except REDIS_ERRORS as exc:
                self._link.failed(exc)
            else:
                log.warning(
                    "%s: wrong %s from %s (%d failures in a row)", where, self.what, key, count
                )
                return
        await super().failed(key, where)

    async def succeeded(self, key: str) -> None:
        """A correct credential for ``key``: forget its failures everywhere."""
        if self._link.up:
            try:
                await self._link.client.delete(self._keys(key)[0])
            except REDIS_ERRORS as exc:
                self._link.failed(exc)
        await super().succeeded(key)
