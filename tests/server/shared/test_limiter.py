"""The rate limiter: its contract on both implementations, then the in-memory bucket's
refill and eviction (on a fake clock)."""

from __future__ import annotations

import pytest

from jditem.server.shared.limiter import InMemoryRateLimiter, RateLimiter, effective_burst

#: Refills nothing within a test: exactly ``burst`` admissions, whatever the machine.
NO_REFILL = 0.001


async def test_the_burst_is_admitted_then_the_wait_is_told(limiter: RateLimiter) -> None:
    assert [await limiter.acquire("k", NO_REFILL, 3) for _ in range(3)] == [None, None, None]
    wait = await limiter.acquire("k", NO_REFILL, 3)
    assert wait is not None
    assert wait > 0
    assert await limiter.acquire("other", NO_REFILL, 3) is None  # keys are independent


async def test_refund_gives_one_slot_back_never_above_the_size(limiter: RateLimiter) -> None:
    assert await limiter.acquire("k", NO_REFILL, 1) is None
    assert await limiter.acquire("k", NO_REFILL, 1) is not None
    await limiter.refund("k")
    assert await limiter.acquire("k", NO_REFILL, 1) is None
    await limiter.refund("k")
    await limiter.refund("k")  # never above the bucket size
    assert await limiter.acquire("k", NO_REFILL, 1) is None
    assert await limiter.acquire("k", NO_REFILL, 1) is not None


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_bucket_refills_at_the_rate() -> None:
    clock = FakeTime()
    limiter = InMemoryRateLimiter(monotonic=clock)
    assert [await limiter.acquire("k", 2.0, 3) for _ in range(3)] == [None, None, None]
    wait = await limiter.acquire("k", 2.0, 3)
    assert wait == pytest.approx(0.5)
    clock.now += 0.5
    assert await limiter.acquire("k", 2.0, 3) is None


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
