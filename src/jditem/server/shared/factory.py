"""The one place that picks the shared-state backends of a process (SPEC §2.8).

* **Embedded** (no ``redis_url``): :class:`~jditem.server.shared.state.SharedState` —
  in-memory rate limiter, in-process notifier, local broadcast, this process's health
  window and failed-credential throttle.
* **Scale-out** (``redis_url`` set): :mod:`~jditem.server.shared.state_redis` — the Redis
  implementation of each Protocol, next to it in this folder (``limiter_redis.py``,
  ``notify_redis.py``, ``broadcast_redis.py``, ``health_redis.py``,
  ``auth_throttle_redis.py``), over one :class:`~jditem.server.shared.redis_link.RedisLink`.

Nothing else in the server asks which profile runs. The store (SQLite or PostgreSQL)
is picked by the database URL in ``store/``.
"""

from __future__ import annotations

from jditem.server.settings import Settings
from jditem.server.shared.broadcast import LocalBroadcast
from jditem.server.shared.health import HealthWindow
from jditem.server.shared.limiter import InMemoryRateLimiter
from jditem.server.shared.notify import InProcessNotifier
from jditem.server.shared.state import SharedState


class MissingExtraError(RuntimeError):
    """A backend needs an optional dependency that is not installed."""


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
        from jditem.server.shared.state_redis import build_redis_state
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(
            f"JDITEM_REDIS_URL is set but the redis client is missing ({exc.name}); "
            "install it with: pip install 'jditem[scale]'"
        ) from None
    return build_redis_state(settings)
