"""The in-memory token bucket: burst, refill, Retry-After, refund, eviction."""

from __future__ import annotations

import pytest

from jditem.server.shared.limiter import InMemoryRateLimiter, effective_burst


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_burst_then_wait() -> None:
    clock = FakeTime()
    limiter = InMemoryRateLimiter(monotonic=clock)
    assert [await limiter.acquire("k", 2.0, 3) for _ in range(3)] == [None, None, None]
    wait = await limiter.acquire("k", 2.0, 3)
    assert wait == pytest.approx(0.5)
    clock.now += 0.5
    assert await limiter.acquire("k", 2.0, 3) is None
    assert await limiter.acquire("other", 2.0, 3) is None  # keys are independent


async def test_refund_gives_the_slot_back() -> None:
    limiter = InMemoryRateLimiter(monotonic=FakeTime())
    assert await limiter.acquire("k", 1.0, 1) is None
    assert await limiter.acquire("k", 1.0, 1) is not None
    await limiter.refund("k")
    assert await limiter.acquire("k", 1.0, 1) is None
    await limiter.refund("k")
    await limiter.refund("k")  # never above the bucket size
    assert await limiter.acquire("k", 1.0, 1) is None
    assert await limiter.acquire("k", 1.0, 1) is not None


async def test_idle_buckets_are_evicted_at_capacity() -> None:
    clock = FakeTime()
    limiter = InMemoryRateLimiter(monotonic=clock, max_keys=2)
    await limiter.acquire("a", 1.0, 1)
    await limiter.acquire("b", 1.0, 1)
    clock.now += 10
    await limiter.acquire("c", 1.0, 1)
    assert len(limiter._buckets) == 1


def test_effective_burst() -> None:
    assert effective_burst(0.5, None) == 1
    assert effective_burst(7.2, None) == 8
    assert effective_burst(1.0, 20) == 20
