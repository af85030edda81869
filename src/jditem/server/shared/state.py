"""The shared state of one process: rate limiter, notifier, broadcast, health window.

:class:`SharedState` holds the embedded implementations (in-memory limiter, in-process
notifier, local broadcast, this process's health window and failed-credential
throttle); :class:`~jditem.server.shared.state_redis.RedisSharedState` the Redis ones of
the same Protocols. :func:`jditem.server.shared.factory.build_shared_state` picks one.
"""

from __future__ import annotations

from dataclasses import dataclass

from jditem.server.shared.auth_throttle import AuthThrottle
from jditem.server.shared.broadcast import Broadcast
from jditem.server.shared.health import HealthWindow
from jditem.server.shared.limiter import RateLimiter
from jditem.server.shared.notify import Notifier


@dataclass
class SharedState:
    """Rate limiter, notifier, broadcast and health window of one process."""

    limiter: RateLimiter
    notifier: Notifier
    broadcast: Broadcast
    health: HealthWindow
    profile: str = "embedded"

    async def start(self) -> None:
        """Start the background parts (none in the embedded profile)."""

    async def stop(self) -> None:
        """Stop the background parts (none in the embedded profile)."""

    def redis_status(self) -> str | None:
        """``"ok"`` / ``"unreachable"`` in the scale-out profile, None when embedded."""
        return None

    def share_throttle(self, local: AuthThrottle) -> AuthThrottle:
        """The failed-credential throttle all processes share, with ``local``'s rules
        (embedded: ``local`` itself, this process's failures only)."""
        return local
