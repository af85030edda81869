"""The scale-out :class:`~jditem.server.shared.state.SharedState`: Redis implementations.

Imported by :func:`jditem.server.shared.factory.build_shared_state` only when a Redis URL is
configured, so the embedded profile does not need the ``redis`` package.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jditem.server.settings import Settings
from jditem.server.shared.auth_throttle import AuthThrottle
from jditem.server.shared.auth_throttle_redis import RedisAuthThrottle
from jditem.server.shared.broadcast_redis import RedisBroadcast
from jditem.server.shared.health_redis import SharedHealthWindow
from jditem.server.shared.limiter_redis import RedisRateLimiter
from jditem.server.shared.notify_redis import RedisNotifier
from jditem.server.shared.redis_link import RedisLink
from jditem.server.shared.state import SharedState


@dataclass
class RedisSharedState(SharedState):
    """:class:`SharedState` over one :class:`RedisLink`; started and stopped in order."""

    link: RedisLink = field(kw_only=True)
    redis_broadcast: RedisBroadcast = field(kw_only=True)
    redis_notifier: RedisNotifier = field(kw_only=True)
    shared_health: SharedHealthWindow = field(kw_only=True)

    async def start(self) -> None:
        """Heartbeat first (never raises: Redis down = fallback), then subscribers."""
        await self.link.start()
        await self.redis_broadcast.start()
        await self.redis_notifier.start()
        await self.shared_health.start()

    async def stop(self) -> None:
        """Stop in reverse order; each part's stop is bounded and never raises."""
        try:
            await self.shared_health.stop()
            await self.redis_notifier.stop()
            await self.redis_broadcast.stop()
        finally:
            await self.link.stop()

    def redis_status(self) -> str | None:
        """``"ok"`` while Redis answers and wake-ups cross processes, else ``"unreachable"``."""
        return "ok" if self.link.up and self.redis_broadcast.connected else "unreachable"

    def share_throttle(self, local: AuthThrottle) -> AuthThrottle:
        """``local``'s rules over failures counted in Redis, shared by every process."""
        return RedisAuthThrottle(self.link, **local.rules())


def build_redis_state(settings: Settings) -> RedisSharedState:
    """The Redis-backed parts for ``settings.redis_url`` (nothing connects until start)."""
    assert settings.redis_url is not None
    link = RedisLink(settings.redis_url.get_secret_value(), role=settings.role)
    broadcast = RedisBroadcast(link)
    notifier = RedisNotifier(link, broadcast)
    health = SharedHealthWindow(settings, link)
    return RedisSharedState(
        limiter=RedisRateLimiter(link),
        notifier=notifier,
        broadcast=broadcast,
        health=health,
        profile="scale-out",
        link=link,
        redis_broadcast=broadcast,
        redis_notifier=notifier,
        shared_health=health,
    )
