"""Per-token rate limiting behind a small interface (in-memory token bucket).

Why not ``aiolimiter``: a server must *answer* at once with 302 and a ``Retry-After``
rather than queue the caller, and a rejected call must be able to give its slot back
(SPEC §2.4: "a rejected call consumes nothing"). aiolimiter's limiter waits instead of
telling how long to wait and has no refund, so this module keeps the ~30-line bucket.
A Redis implementation can replace :class:`InMemoryRateLimiter` for several processes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol


class RateLimiter(Protocol):
    """Admission by requests per second with a burst allowance."""

    async def acquire(self, key: str, rate: float, burst: int | None) -> float | None:
        """Take one slot for ``key``: ``None`` when admitted, else seconds until one frees."""
        ...

    async def refund(self, key: str) -> None:
        """Give back the slot of an admitted call that a later check rejected."""
        ...


def effective_burst(rate: float, burst: int | None) -> int:
    """The bucket size: ``burst`` when set, else one second's worth (at least 1)."""
    return burst if burst and burst > 0 else max(1, math.ceil(rate))


class InMemoryRateLimiter:
    """Token buckets in a dict, one per key; for a single server process.

    ``max_keys`` bounds memory: when exceeded, full (idle) buckets are dropped.
    """

    def __init__(
        self, *, monotonic: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self._monotonic = monotonic
        self._max_keys = max_keys
        # key -> [tokens, last refill time, bucket size, rate]
        self._buckets: dict[str, list[float]] = {}

    def _refill(self, key: str, rate: float, size: int, now: float) -> list[float]:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._evict(now)
            bucket = [float(size), now, float(size), rate]
            self._buckets[key] = bucket
            return bucket
        tokens, last = bucket[0], bucket[1]
        bucket[0] = min(float(size), tokens + (now - last) * rate)
        bucket[1], bucket[2], bucket[3] = now, float(size), rate
        return bucket

    def _evict(self, now: float) -> None:
        idle = [
            key
            for key, (tokens, last, size, rate) in self._buckets.items()
            if tokens + (now - last) * rate >= size
        ]
        for key in idle:
            del self._buckets[key]

    async def acquire(self, key: str, rate: float, burst: int | None) -> float | None:
        """Take one token from ``key``'s bucket, or say how long until one is available."""
        size = effective_burst(rate, burst)
        bucket = self._refill(key, rate, size, self._monotonic())
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return None
        return (1.0 - bucket[0]) / rate

    async def refund(self, key: str) -> None:
        """Return one token to ``key``'s bucket (never above its size)."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket[0] = min(bucket[2], bucket[0] + 1.0)
