"""Throttling of failed admin-key attempts (admin API and console sign-in).

Per client address: the first ``free_failures`` failures within ``window_seconds`` cost
nothing; after that each further attempt must wait a delay that doubles with every
failure (1 s, 2 s, 4 s … up to ``max_delay_seconds``) after the last one. Across all
addresses: once ``global_per_minute`` failures happened in the last minute, every
attempt waits until the oldest of them is a minute old. A throttled attempt is
answered 429 with ``Retry-After`` *before* the key is compared, so guessing gains
nothing while throttled. A success clears the address's failures.

This class keeps the state in memory, for one process; in the scale-out profile
:class:`~jditem.server.shared.auth_throttle_redis.RedisAuthThrottle` keeps it in Redis, so
every API process throttles as one (picked by :mod:`jditem.server.shared.factory`). The
address is the peer of the TCP connection — a reverse proxy's address when there is
one, unless the operator lists that proxy in ``JDITEM_TRUSTED_PROXIES`` (then the client
address it forwards; see the README's security section).
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jditem.server.settings import Settings

log = logging.getLogger("jditem.server.auth")

#: Most client addresses remembered; the oldest are forgotten beyond this.
MAX_TRACKED_ADDRESSES = 100_000
GLOBAL_WINDOW_SECONDS = 60.0


@dataclass
class _Failures:
    count: int
    last: float


@dataclass
class AuthThrottle:
    """Failed-attempt bookkeeping; see the module docstring."""

    free_failures: int = 5
    window_seconds: float = 900.0
    max_delay_seconds: float = 300.0
    global_per_minute: int = 100
    #: What a failure got wrong, for the log line (never the value itself).
    what: str = "admin key"
    clock: Callable[[], float] = time.monotonic
    _by_address: dict[str, _Failures] = field(default_factory=dict, repr=False)
    _recent: deque[float] = field(default_factory=deque, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, what: str = "admin key") -> AuthThrottle:
        """A throttle with the ``auth_*`` settings."""
        return cls(
            free_failures=settings.auth_free_failures,
            window_seconds=settings.auth_failure_window_seconds,
            max_delay_seconds=settings.auth_max_delay_seconds,
            global_per_minute=settings.auth_global_failures_per_minute,
            what=what,
        )

    def _delay(self, count: int) -> float:
        if count < self.free_failures:
            return 0.0
        return float(min(2 ** min(count - self.free_failures, 30), self.max_delay_seconds))

    def rules(self) -> dict[str, Any]:
        """The rules as keyword arguments (to build the same throttle on shared state)."""
        return {
            "free_failures": self.free_failures,
            "window_seconds": self.window_seconds,
            "max_delay_seconds": self.max_delay_seconds,
            "global_per_minute": self.global_per_minute,
            "what": self.what,
            "clock": self.clock,
        }

    async def retry_after(self, address: str) -> int:
        """Seconds ``address`` must wait before its next attempt (0 = go ahead)."""
        now = self.clock()
        wait = 0.0
        failures = self._by_address.get(address)
        if failures is not None:
            if now - failures.last > self.window_seconds:
                del self._by_address[address]
            else:
                wait = failures.last + self._delay(failures.count) - now
        recent = self._recent
        while recent and now - recent[0] >= GLOBAL_WINDOW_SECONDS:
            recent.popleft()
        if len(recent) >= self.global_per_minute:
            wait = max(wait, recent[0] + GLOBAL_WINDOW_SECONDS - now)
        return max(0, math.ceil(wait))

    async def failed(self, address: str, where: str) -> None:
        """Count a failed attempt from ``address`` (logged without the key)."""
        now = self.clock()
        failures = self._by_address.pop(address, None)
        if failures is None or now - failures.last > self.window_seconds:
            failures = _Failures(0, now)
        failures.count += 1
        failures.last = now
        self._by_address[address] = failures  # re-inserted: the dict stays oldest-first
        while len(self._by_address) > MAX_TRACKED_ADDRESSES:
            del self._by_address[next(iter(self._by_address))]
        self._recent.append(now)
        while len(self._recent) > self.global_per_minute:
            self._recent.popleft()
        log.warning(
            "%s: wrong %s from %s (%d failures in a row)",
            where,
            self.what,
            address,
            failures.count,
        )

    async def succeeded(self, address: str) -> None:
        """A correct key from ``address``: forget its failures."""
        self._by_address.pop(address, None)


def client_address(scope_client: tuple[str, int] | None) -> str:
    """The address throttling is keyed on (the TCP peer, or the address a listed proxy
    forwarded: ``JDITEM_TRUSTED_PROXIES``)."""
    return scope_client[0] if scope_client else "unknown"
