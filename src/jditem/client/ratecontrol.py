"""Smooth, adaptive rate control for batch calls.

A token bucket of capacity 1: calls are spaced ``1 / rate`` seconds apart and an idle
period never accumulates credit, so there is no initial burst (a leaky-bucket library
such as ``aiolimiter`` lets a full bucket through at once, which is exactly what makes
a rate-limited server answer 302 at the start of a batch).

The rate adapts AIMD-style, as TCP does:

* on a throttling answer (code 302 / HTTP 429) the rate is cut multiplicatively
  (``decrease``), at most once per ``cooldown`` seconds — the other calls already in
  flight were sent at the old rate and will bounce too; cutting again for each of them
  would collapse the rate. When the server admitted clearly fewer calls per second
  than that over the last ``window`` seconds, the cut goes straight down to the
  admitted rate (never below half the current rate): asked for 3× the server's limit,
  the rate finds the limit in one or two cuts instead of five, so fewer calls bounce;
* after each success it creeps up additively, by about ``gain_per_s`` requests/second
  per second, never above the configured ceiling.

With no ceiling (``rate=None``) calls are not spaced until the first throttling answer;
the cut then starts from the rate measured over the last few seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable


class AdaptiveRate:
    """Spacing and adaptation of call starts. Safe within one event loop."""

    def __init__(
        self,
        rate: float | None,
        *,
        min_rate: float = 0.2,
        decrease: float = 0.8,
        gain_per_s: float | None = None,
        cooldown: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError(f"rate must be positive (calls per second), got {rate!r}")
        self.ceiling = rate
        self.rate = rate
        self.min_rate = min_rate
        self.decrease = decrease
        self._gain = gain_per_s
        self.cooldown = cooldown
        self.throttled = 0
        self.cuts = 0
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._last_cut = float("-inf")
        self._recent: deque[float] = deque(maxlen=256)
        self._admitted: deque[float] = deque(maxlen=512)
        self.window = 2.0

    @property
    def gain_per_s(self) -> float:
        """Additive increase in requests/second per second of successes."""
        if self._gain is not None:
            return self._gain
        base = self.ceiling if self.ceiling is not None else (self.rate or 1.0)
        return max(0.05, 0.03 * base)

    async def acquire(self) -> float:
        """Wait for the next call slot (at once while unlimited); returns the slot time.

        Pass the returned time to :meth:`on_throttled` as ``sent_at``.
        """
        now = self._clock()
        if self.rate is None:
            self._recent.append(now)
            return now
        slot = max(now, self._next)
        self._next = slot + 1.0 / self.rate
        self._recent.append(slot)
        if slot > now:
            await self._sleep(slot - now)
        return slot

    def measured_rate(self, window: float = 3.0) -> float | None:
        """Call starts per second over the last ``window`` seconds, if measurable."""
        now = self._clock()
        starts = [t for t in self._recent if now - t <= window]
        if len(starts) < 2:
            return None
        span = max(now - starts[0], 1e-3)
        return len(starts) / span

    def on_throttled(
        self, retry_after: float | None = None, *, sent_at: float | None = None
    ) -> None:
        """A call was answered 302 / HTTP 429: slow down.

        A call sent before the last cut says nothing new (it left at the old rate), and
        cuts are at least ``cooldown`` seconds apart.
        """
        self.throttled += 1
        now = self._clock()
        if sent_at is not None and sent_at <= self._last_cut:
            return
        if now - self._last_cut < self.cooldown:
            return
        self._last_cut = now
        self.cuts += 1
        current = self.rate if self.rate is not None else self.measured_rate()
        if current is None:
            current = 1.0
        target = current * self.decrease
        admitted = self.admitted_rate()
        if admitted is not None:
            target = min(target, max(admitted, current * 0.5))
        self.rate = max(self.min_rate, target)
        if retry_after is not None and retry_after > 0:
            # Honour the server's hint once, without stalling longer than one slot or two.
            self._next = max(self._next, now + min(retry_after, 2.0 / self.rate))

    def admitted_rate(self) -> float | None:
        """Calls per second the server admitted over the last ``window`` seconds.

        ``None`` until at least 8 calls were admitted over at least a quarter second.
        """
        now = self._clock()
        admitted = self._admitted
        while admitted and now - admitted[0] > self.window:
            admitted.popleft()
        if len(admitted) < 8:
            return None
        span = now - admitted[0]
        return len(admitted) / span if span >= 0.25 else None

    def on_success(self) -> None:
        """A call was admitted (any answer but a throttle): creep up towards the ceiling."""
        self._admitted.append(self._clock())
        if self.rate is None:
            return
        step = self.gain_per_s / self.rate
        top = self.ceiling if self.ceiling is not None else float("inf")
        self.rate = min(top, self.rate + step)
