"""The one Redis connection pool of a scale-out process, and whether Redis is up.

:class:`RedisLink` owns a redis-py asyncio client on a ``BlockingConnectionPool`` (the
default pool *raises* once ``max_connections`` are in use; the blocking one makes a
burst of callers queue for a connection, bounded by ``timeout``). Its heartbeat loop
pings Redis every second, registers this process in a shared set of live processes
(so the rate limiter knows its fallback share R/N), and flips :attr:`up`. Backends
call :meth:`failed` when a command raises, so the next caller takes the fallback at
once instead of waiting for the heartbeat.

Nothing here raises to request handlers: backends catch ``RedisError``/``OSError``
and fall back (SPEC §2.8).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from jditem.server.shared.redis_url import display_redis_url

log = logging.getLogger(__name__)

#: Errors that mean "Redis is unreachable or misbehaving": take the fallback path.
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
#: Key prefix of every key and channel jditem uses.
PREFIX = "jditem:"
#: Sorted set of live processes (member = process id, score = last heartbeat, Redis time).
PROCESSES_KEY = PREFIX + "processes"
#: A process that missed heartbeats for this long no longer counts as live.
PROCESS_TTL_SECONDS = 5.0
#: Heartbeat (and reconnect probe) interval.
HEARTBEAT_SECONDS = 1.0
#: Per-command socket timeout: a hung Redis must not hang a call.
SOCKET_TIMEOUT_SECONDS = 1.0


class RedisLink:
    """A Redis client plus liveness (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        role: str = "api",
        max_connections: int = 64,
        pool_timeout: float = 2.0,
        socket_timeout: float = SOCKET_TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        self.role = role
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=pool_timeout,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
        )
        self._pool = pool
        self.client: Redis = Redis(connection_pool=pool)
        self.up = False
        #: Why the last command failed (type and first line; no password), for the log.
        self.last_error = ""
        #: Live API processes seen at the last heartbeat (at least 1; kept while Redis is down).
        self.api_processes = 1
        self._heartbeat: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"RedisLink({display_redis_url(self.url)!r}, up={self.up})"

    def failed(self, exc: BaseException) -> None:
        """Record that a command failed: Redis counts as down until the next good ping."""
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        self.last_error = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        if self.up:
            log.warning(
                "redis %s unreachable (%s); falling back to per-process state",
                display_redis_url(self.url),
                type(exc).__name__,
            )
        self.up = False

    async def beat(self) -> None:
        """One heartbeat: ping, register this process, count live API processes."""
        try:
            seconds, micros = await self.client.time()
            now = seconds + micros / 1e6
            member = f"{self.role}|{self.process_id}"
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.zadd(PROCESSES_KEY, {member: now})
                pipe.zremrangebyscore(PROCESSES_KEY, "-inf", now - PROCESS_TTL_SECONDS)
                pipe.zrangebyscore(PROCESSES_KEY, now - PROCESS_TTL_SECONDS, "+inf")
                results = await pipe.execute()
        except REDIS_ERRORS as exc:
            self.failed(exc)
            return
        members = [m.decode() if isinstance(m, bytes) else str(m) for m in results[2]]
        api = sum(1 for m in members if m.split("|", 1)[0] in ("api", "all"))
        self.api_processes = max(1, api)
        if not self.up:
            log.info("redis %s reachable", display_redis_url(self.url))
        self.up = True

    async def start(self) -> None:
        """First heartbeat (never raises; a Redis that does not answer is a WARNING line,
        the process runs on without it), then one every second in the background."""
        await self.beat()
        if not self.up:
            log.warning(
                "redis %s is unreachable at startup (%s); running without it until it "
                "answers: rate limits per process, wake-ups by polling the database, "
                "/api/health says degraded",
                display_redis_url(self.url),
                self.last_error,
            )
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat_forever())

    async def _beat_forever(self) -> None:
        while True:
            started = time.monotonic()
            await self.beat()
            await asyncio.sleep(max(0.0, HEARTBEAT_SECONDS - (time.monotonic() - started)))

    async def stop(self) -> None:
        """Stop the heartbeat, leave the live set, close the pool (never raises)."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
            self._heartbeat = None
        with contextlib.suppress(*REDIS_ERRORS):
            await asyncio.wait_for(
                self.client.zrem(PROCESSES_KEY, f"{self.role}|{self.process_id}"), 1.0
            )
        with contextlib.suppress(*REDIS_ERRORS):
            await self.client.aclose()
        with contextlib.suppress(*REDIS_ERRORS):
            await self._pool.disconnect()
