"""The shared upstream rate: one budget of calls per second for every relay worker.

:class:`UpstreamRate` is the seam the relay collector uses; :class:`AimdRate` implements
it over the server's :class:`~jditem.server.shared.limiter.RateLimiter` — the same
token-bucket Protocol that limits callers' tokens, under the key ``upstream``. So the
budget is shared by every worker of the process with the in-memory limiter (embedded
profile), and by every process with a Redis-backed limiter (scale-out profile) without
a line of code here.

AIMD (as TCP, and as the client's batch rate control): a throttle answer from the
upstream (302 / HTTP 429) halves the rate (and the burst with it) and pauses this
process's callers for the upstream's ``Retry-After`` — once per congestion event:
answers of calls already in flight during the pause do not cut again; every success
adds back a twentieth of the configured rate, up to it.

The pause is capped (SPEC §5): a ``Retry-After`` above ``max_pause`` (the setting
``upstream_max_pause_seconds``, at most :data:`MAX_PAUSE_SECONDS` = 120 s, the client's
``max_retry_after``) or infinite never stops collection for longer; a negative one
means no pause, one that is not a number of seconds or a date 1 s.
:meth:`AimdRate.paused_for` says how long the pause in force still lasts (health,
console).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from jditem.server.shared.limiter import RateLimiter

Sleep = Callable[[float], Awaitable[None]]

#: The rate never drops below this fraction of the configured one.
MIN_FRACTION = 1 / 64
#: Each success adds this fraction of the configured rate back.
INCREASE_FRACTION = 1 / 20
#: The limiter key of the upstream budget (tokens use ``token:<id>``).
UPSTREAM_KEY = "upstream"
#: The longest pause an upstream ``Retry-After`` can impose (SPEC §5).
MAX_PAUSE_SECONDS = 120.0
#: The pause after a throttle answer without a usable ``Retry-After``.
DEFAULT_PAUSE_SECONDS = 1.0


def capped_pause(retry_after: float | None, cap: float = MAX_PAUSE_SECONDS) -> float:
    """Seconds to pause for an upstream ``Retry-After`` (parsed; None: absent or garbage).

    Within ``[0, cap]``: infinite → the cap; NaN or absent → 1 s (at most the cap).
    """
    if retry_after is None or math.isnan(retry_after):
        return min(cap, DEFAULT_PAUSE_SECONDS)
    return min(cap, max(0.0, retry_after))


class UpstreamRate(Protocol):
    """Calls per second towards the upstream, shared by every worker."""

    async def acquire(self) -> None:
        """Wait until one call may be sent."""
        ...

    def throttled(self, retry_after: float | None) -> None:
        """The upstream said "too fast": cut the rate, pause for ``retry_after`` s."""
        ...

    def succeeded(self) -> None:
        """A call went through: let the rate grow back towards the configured one."""
        ...

    def paused_for(self) -> float:
        """Seconds the pause in force still lasts (0: none)."""
        ...

    def hold(self, seconds: float) -> None:
        """Pause for ``seconds`` (capped) without cutting the rate: another process of
        the deployment was told to slow down."""
        ...

    #: Called with the pause applied after each throttle answer (shared by the gateway).
    on_pause: Callable[[float], object] | None

    @property
    def current(self) -> float:
        """The rate in force now (calls per second)."""
        ...


class AimdRate:
    """AIMD over a shared token bucket (see the module docstring)."""

    def __init__(
        self,
        limiter: RateLimiter,
        rate: float,
        burst: int,
        *,
        key: str = UPSTREAM_KEY,
        max_pause: float = MAX_PAUSE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"upstream rate must be > 0 and burst >= 1, got {rate}, {burst}")
        self.max_pause = min(MAX_PAUSE_SECONDS, max_pause)
        self.configured = float(rate)
        self._rate = float(rate)
        self._burst = burst
        self._limiter = limiter
        self._key = key
        self._clock = clock
        self._sleep = sleep
        self._paused_until = 0.0
        self.cuts = 0
        self.on_pause: Callable[[float], object] | None = None

    @property
    def current(self) -> float:
        """The rate in force now (calls per second)."""
        return self._rate

    @property
    def burst(self) -> int:
        """The burst in force now: the configured one scaled with the rate (at least 1)."""
        return max(1, round(self._burst * self._rate / self.configured))

    async def acquire(self) -> None:
        """Wait out a pause, then take a slot of the shared bucket (waiting for one)."""
        while True:
            pause = self._paused_until - self._clock()
            if pause > 0:
                await self._sleep(pause)
                continue
            wait = await self._limiter.acquire(self._key, self._rate, self.burst)
            if wait is None:
                return
            await self._sleep(max(wait, 0.001))

    def throttled(self, retry_after: float | None) -> None:
        """Halve the rate and pause for ``retry_after`` (:func:`capped_pause`).

        One cut per congestion event: throttle answers arriving while a pause is on
        (calls that were already in flight) extend the pause but do not cut again.
        """
        now = self._clock()
        if now >= self._paused_until:
            self._rate = max(self.configured * MIN_FRACTION, self._rate / 2)
            self.cuts += 1
        pause = capped_pause(retry_after, self.max_pause)
        self._paused_until = max(self._paused_until, now + pause)
        if self.on_pause is not None and pause > 0:
            self.on_pause(pause)

    def hold(self, seconds: float) -> None:
        """Pause for ``seconds`` (capped at ``max_pause``) without cutting the rate."""
        pause = min(self.max_pause, max(0.0, seconds))
        self._paused_until = max(self._paused_until, self._clock() + pause)

    def paused_for(self) -> float:
        """Seconds the pause in force still lasts (0: none); never more than the cap."""
        return max(0.0, self._paused_until - self._clock())

    def succeeded(self) -> None:
        """Additive increase, capped at the configured rate."""
        self._rate = min(self.configured, self._rate + self.configured * INCREASE_FRACTION)
