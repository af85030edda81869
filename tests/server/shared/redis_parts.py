"""Redis-backed parts as one server process holds them (for the shared-state tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from jditem.server.shared.broadcast_redis import RedisBroadcast
from jditem.server.shared.notify_redis import RedisNotifier
from jditem.server.shared.redis_link import RedisLink

#: Generous bound for a wake-up to arrive (the assertion is "it arrives", never "fast").
WAKE = 10.0


async def started_link(url: str, role: str = "api") -> RedisLink:
    """A link as one API process holds it, its first heartbeat done.

    Generous timeouts: on a starved machine a slow reply must not look like "Redis down".
    """
    link = RedisLink(url, role=role, pool_timeout=30.0, socket_timeout=30.0)
    await link.beat()
    return link


@asynccontextmanager
async def redis_notifier(url: str) -> AsyncIterator[RedisNotifier]:
    """A notifier as one server process holds it (link + broadcast + popper started)."""
    link = RedisLink(url)
    await link.start()
    broadcast = RedisBroadcast(link)
    await broadcast.start(wait_seconds=WAKE)
    notifier = RedisNotifier(link, broadcast)
    await notifier.start()
    try:
        yield notifier
    finally:
        await notifier.stop()
        await broadcast.stop()
        await link.stop()
