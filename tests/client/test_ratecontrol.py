"""Smooth (no initial burst) and adaptive (AIMD) rate control, on a fake clock."""

from __future__ import annotations

import pytest

from jditem.client.ratecontrol import AdaptiveRate


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def make(rate: float | None, **kwargs: float) -> tuple[AdaptiveRate, FakeTime]:
    t = FakeTime()
    return AdaptiveRate(rate, clock=t.clock, sleep=t.sleep, **kwargs), t


async def test_no_initial_burst_calls_are_evenly_spaced() -> None:
    limiter, _t = make(10.0)
    starts = []
    for _ in range(5):
        starts.append(await limiter.acquire())
    assert starts == pytest.approx([100.0, 100.1, 100.2, 100.3, 100.4])


async def test_idle_time_does_not_accumulate_credit() -> None:
    limiter, t = make(10.0)
    await limiter.acquire()
    t.now += 60  # a long idle period
    first = await limiter.acquire()
    second = await limiter.acquire()
    assert second - first == pytest.approx(0.1)


async def test_cut_once_per_burst_of_throttles_and_ignore_stale_calls() -> None:
    limiter, t = make(40.0, decrease=0.5, cooldown=0.25)
    sent = await limiter.acquire()
    limiter.on_throttled(1.0, sent_at=sent)
    assert limiter.rate == pytest.approx(20.0)
    limiter.on_throttled(1.0, sent_at=sent)  # sent before the cut: says nothing new
    t.now += 1.0
    limiter.on_throttled(1.0, sent_at=sent)
    assert limiter.rate == pytest.approx(20.0)
    newer = await limiter.acquire()
    t.now += 0.5
    limiter.on_throttled(None, sent_at=newer)
    assert limiter.rate == pytest.approx(10.0)
    assert limiter.throttled == 4
    assert limiter.cuts == 2


async def test_creeps_back_up_to_the_ceiling_but_not_above() -> None:
    limiter, _ = make(20.0, decrease=0.5, gain_per_s=1.0)
    limiter.on_throttled()
    assert limiter.rate == pytest.approx(10.0)
    limiter.on_success()
    assert limiter.rate == pytest.approx(10.1)
    for _ in range(10_000):
        limiter.on_success()
    assert limiter.rate == pytest.approx(20.0)


async def test_unlimited_until_throttled_then_starts_from_measured_rate() -> None:
    limiter, t = make(None, decrease=0.5)
    for _ in range(30):
        await limiter.acquire()
        t.now += 0.01  # 100 calls/s
    assert limiter.rate is None
    limiter.on_throttled()
    assert limiter.rate == pytest.approx(50.0, rel=0.1)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate must be positive"):
        AdaptiveRate(0)


async def test_a_cut_goes_down_to_the_rate_the_server_admitted() -> None:
    """Asked for 90/s against a 30/s limit: the first cut lands near 30, not at 72."""
    limiter, t = make(90.0, decrease=0.8)
    for _ in range(30):  # one second at 30 admitted calls/s
        t.now += 1 / 30
        limiter.on_success()
    rate_before = limiter.rate
    assert rate_before is not None
    limiter.on_throttled()
    assert limiter.rate == pytest.approx(max(30.0 * 30 / 29, rate_before * 0.5), rel=0.05)


async def test_the_admitted_rate_never_cuts_more_than_half() -> None:
    limiter, t = make(100.0, decrease=0.8)
    for _ in range(10):  # 10 admitted calls/s
        t.now += 0.1
        limiter.on_success()
    limiter.on_throttled()
    assert limiter.rate is not None
    assert limiter.rate >= 50.0
