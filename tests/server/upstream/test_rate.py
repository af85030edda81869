"""AimdRate: the shared upstream budget (fake clock and sleep: no waiting, no timing)."""

from __future__ import annotations

import asyncio

import pytest

from jditem.server.upstream.rate import MIN_FRACTION, AimdRate


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make(rate: float = 10.0, burst: int = 2) -> tuple[AimdRate, FakeTime]:
    fake = FakeTime()
    return AimdRate(rate, burst, clock=fake.clock, sleep=fake.sleep), fake


async def test_burst_then_one_call_per_interval() -> None:
    limiter, fake = make(rate=10.0, burst=2)
    for _ in range(5):
        await limiter.acquire()
    # two free calls, then three spaced 0.1 s apart
    assert fake.now == pytest.approx(0.3)


async def test_concurrent_callers_share_one_budget() -> None:
    limiter, fake = make(rate=4.0, burst=1)
    waits: list[float] = []

    async def one() -> None:
        before = fake.now
        await limiter.acquire()
        waits.append(fake.now - before)

    await asyncio.gather(*(one() for _ in range(4)))
    # reservations queue up: 0, 0.25, 0.5, 0.75 s (each sleeper advances the fake clock)
    assert len(waits) == 4
    assert sum(1 for w in waits if w == 0) == 1


async def test_throttle_halves_pauses_and_success_grows_back() -> None:
    limiter, fake = make(rate=8.0, burst=4)
    limiter.throttled(2.0)
    assert limiter.current == 4.0
    await limiter.acquire()
    assert fake.now >= 2.0  # paused for Retry-After, bucket emptied
    for _ in range(100):
        limiter.throttled(None)
    assert limiter.current == pytest.approx(8.0 * MIN_FRACTION)
    for _ in range(100):
        limiter.succeeded()
    assert limiter.current == 8.0
    assert limiter.cuts == 101


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        AimdRate(0, 1)
