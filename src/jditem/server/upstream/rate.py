"""The shared upstream rate: one budget of calls per second for every relay worker.

:class:`UpstreamRate` is the seam; :class:`AimdRate` is the in-process implementation
(every worker of the process shares one instance). A Redis-backed implementation of
the same Protocol makes the budget shared by every process of the scale-out profile.

AIMD (as TCP, and as the batch engine's rate control does on the client side): a
throttle answer from the upstream (302 / HTTP 429) halves the rate, empties the
bucket and pauses everyone for the upstream's ``Retry-After``; every success adds
back a twentieth of the configured rate, up to it.

Why not ``aiolimiter``: its rate cannot be changed while callers wait, and it has no
pause; the bucket below is twenty lines.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

Sleep = Callable[[float], Awaitable[None]]

#: The rate never drops below this fraction of the configured one.
MIN_FRACTION = 1 / 64
#: Each success adds this fraction of the configured rate back.
INCREASE_FRACTION = 1 / 20


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

    @property
    def current(self) -> float:
        """The rate in force now (calls per second)."""
        ...


class AimdRate:
    """A token bucket whose rate follows AIMD; one per process (see the module doc)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"upstream rate must be > 0 and burst >= 1, got {rate}, {burst}")
        self.configured = float(rate)
        self._rate = float(rate)
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._paused_until = 0.0
        self.cuts = 0

    @property
    def current(self) -> float:
        """The rate in force now (calls per second)."""
        return self._rate

    def _refill(self, now: float) -> None:
        start = max(self._updated, self._paused_until)
        if now > start:
            self._tokens = min(self._burst, self._tokens + (now - start) * self._rate)
        self._updated = max(self._updated, now)

    async def acquire(self) -> None:
        """Reserve the next slot (the bucket may go negative) and wait for it."""
        now = self._clock()
        self._refill(now)
        self._tokens -= 1.0
        wait = max(0.0, self._paused_until - now)
        if self._tokens < 0:
            wait += -self._tokens / self._rate
        if wait > 0:
            await self._sleep(wait)
        # A throttle answer while this call waited pauses it too.
        while (pause := self._paused_until - self._clock()) > 0:
            await self._sleep(pause)

    def throttled(self, retry_after: float | None) -> None:
        """Halve the rate, empty the bucket, pause for ``retry_after`` (default 1 s)."""
        now = self._clock()
        self._refill(now)
        self._rate = max(self.configured * MIN_FRACTION, self._rate / 2)
        self._tokens = min(self._tokens, 0.0)
        pause = 1.0 if retry_after is None else max(0.0, retry_after)
        self._paused_until = max(self._paused_until, now + pause)
        self.cuts += 1

    def succeeded(self) -> None:
        """Additive increase, capped at the configured rate."""
        self._rate = min(self.configured, self._rate + self.configured * INCREASE_FRACTION)
