"""The one place that picks the shared-state backends of a process (SPEC §2.8).

* **Embedded** (no ``redis_url``): in-memory rate limiter, in-process notifier, local
  broadcast, this process's health window and failed-credential throttle.
* **Scale-out** (``redis_url`` set): the Redis implementations of the same Protocols,
  each next to its Protocol — ``accounts/ratelimit_redis.py``, ``tasks/notify_redis.py``,
  ``broadcast_redis.py``, ``accounts/health_redis.py``, ``auth_throttle_redis.py`` —
  over one :class:`RedisLink`.

Nothing else in the server asks which profile runs. The store (SQLite or PostgreSQL)
is picked by the database URL in ``store/``.
"""

from __future__ import annotations

from dataclasses import dataclass

from jditem.server.accounts.ratelimit import InMemoryRateLimiter, RateLimiter
from jditem.server.accounts.usage import HealthWindow
from jditem.server.auth_throttle import AuthThrottle
from jditem.server.broadcast import Broadcast, LocalBroadcast
from jditem.server.settings import Settings
from jditem.server.tasks.notify import InProcessNotifier, Notifier


class MissingExtraError(RuntimeError):
    """A backend needs an optional dependency that is not installed."""


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


def build_shared_state(settings: Settings) -> SharedState:
    """The shared-state backends ``settings`` asks for (see the module docstring)."""
    if settings.redis_url is None:
        return SharedState(
            limiter=InMemoryRateLimiter(),
            notifier=InProcessNotifier(),
            broadcast=LocalBroadcast(),
            health=HealthWindow(settings),
        )
    try:
        from jditem.server.profile_redis import build_redis_state
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(
            f"JDITEM_REDIS_URL is set but the redis client is missing ({exc.name}); "
            "install it with: pip install 'jditem[scale]'"
        ) from None
    return build_redis_state(settings)
