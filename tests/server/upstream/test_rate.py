"""AimdRate: the shared upstream budget over the server's limiter (fake clock: no waiting)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jditem.client.base import parse_retry_after
from jditem.server.shared.limiter import InMemoryRateLimiter
from jditem.server.upstream.rate import MAX_PAUSE_SECONDS, MIN_FRACTION, AimdRate
from tests.support.waiting import await_until


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def make(rate: float = 10.0, burst: int = 2) -> tuple[AimdRate, FakeTime, InMemoryRateLimiter]:
    fake = FakeTime()
    limiter = InMemoryRateLimiter(monotonic=fake.clock)
    return AimdRate(limiter, rate, burst, clock=fake.clock, sleep=fake.sleep), fake, limiter


async def test_burst_then_one_call_per_interval() -> None:
    rate, fake, _ = make(rate=10.0, burst=2)
    for _ in range(5):
        await rate.acquire()
    # two free calls, then three spaced 0.1 s apart
    assert fake.now == pytest.approx(0.3, abs=0.01)


async def test_two_rates_on_one_limiter_share_one_budget() -> None:
    """Two processes' AimdRate over one shared limiter: 1 burst + 1 per interval in total."""
    fake = FakeTime()
    limiter = InMemoryRateLimiter(monotonic=fake.clock)
    a = AimdRate(limiter, 10.0, 1, clock=fake.clock, sleep=fake.sleep)
    b = AimdRate(limiter, 10.0, 1, clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        await a.acquire()
        await b.acquire()
    assert fake.now == pytest.approx(0.5, abs=0.01)  # six calls at 10/s with a burst of 1


async def test_throttle_halves_pauses_and_success_grows_back() -> None:
    rate, fake, _ = make(rate=8.0, burst=4)
    rate.throttled(2.0)
    assert rate.current == 4.0
    assert rate.burst == 2
    rate.throttled(1.0)  # the answer of a call that was in flight: no second cut
    assert rate.current == 4.0
    await rate.acquire()
    assert fake.now >= 2.0  # paused for Retry-After
    for _ in range(100):
        fake.now += 10  # separate congestion events
        rate.throttled(None)
    assert rate.current == pytest.approx(8.0 * MIN_FRACTION)
    assert rate.burst == 1
    for _ in range(100):
        rate.succeeded()
    assert rate.current == 8.0
    assert rate.cuts == 101


@pytest.mark.parametrize(
    ("header", "pause"),
    [
        ("3600", 120.0),
        ("inf", 120.0),
        ("Infinity", 120.0),
        ("1e308", 120.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 120.0),
        ("-5", 0.0),
        ("nan", 1.0),  # not a number: like garbage, the default pause
        ("soon", 1.0),
        (None, 1.0),
        ("7", 7.0),
    ],
)
async def test_an_upstream_retry_after_never_pauses_longer_than_the_cap(
    header: str | None, pause: float
) -> None:
    """Item 3: one 302 with ``Retry-After: 3600`` (or inf) must not stop collection for
    an hour; the pause is visible while it lasts and ends at the cap at the latest."""
    rate, fake, _ = make()
    rate.throttled(parse_retry_after(header))
    assert rate.paused_for() == pytest.approx(pause)
    assert MAX_PAUSE_SECONDS == 120.0
    fake.now += pause
    assert rate.paused_for() == 0.0
    await rate.acquire()
    assert fake.now == pytest.approx(pause)  # the call went out when the pause ended


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        AimdRate(InMemoryRateLimiter(), 0, 1)


async def test_two_processes_share_the_upstream_budget_through_redis(redis_server: Any) -> None:
    """Scale-out: AimdRate over the Redis limiter, as two processes hold it — one budget.

    Rate 0.001/s (no refill during the test) and a burst of 3: exactly three calls may
    go, in total over both "processes"; the others are still waiting when we stop them.
    """
    from jditem.server.shared.limiter_redis import RedisRateLimiter
    from jditem.server.shared.redis_link import RedisLink

    links = [RedisLink(redis_server.url, role="worker") for _ in range(2)]
    for link in links:
        await link.beat()
    try:
        rates = [AimdRate(RedisRateLimiter(link), 0.001, 3) for link in links]
        calls = [asyncio.ensure_future(rates[i % 2].acquire()) for i in range(8)]
        await await_until(
            lambda: sum(call.done() for call in calls) >= 3, what="three calls admitted"
        )
        await asyncio.sleep(0.2)  # give a wrongly admitted fourth call the chance to show
        assert sum(call.done() for call in calls) == 3
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
    finally:
        for link in links:
            await link.stop()


async def test_a_pause_held_for_another_process_is_capped_and_does_not_cut() -> None:
    rate, _, _ = make(rate=8.0)
    paused: list[float] = []
    rate.on_pause = paused.append
    rate.throttled(3600.0)
    assert paused == [120.0]  # what the other processes are told
    other, _, _ = make(rate=8.0)
    other.hold(3600.0)
    assert other.paused_for() == 120.0
    assert other.current == 8.0
