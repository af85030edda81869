"""The failed-credential throttle: its contract on both implementations (free failures,
then a delay up to the cap; the global bucket; success forgets; no key in the log), then
the in-memory throttle's exact schedule on a fake clock."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from jditem.server.shared.auth_throttle import AuthThrottle

Make = Callable[..., AuthThrottle]


async def test_free_failures_then_a_capped_delay(make_throttle: Make) -> None:
    throttle = make_throttle(free_failures=3, max_delay_seconds=300)
    for _ in range(3):
        assert await throttle.retry_after("1.2.3.4") == 0
        await throttle.failed("1.2.3.4", "test")
    for _ in range(10):  # the delay doubles past the cap (2**10 s > 300 s)
        await throttle.failed("1.2.3.4", "test")
    assert 0 < await throttle.retry_after("1.2.3.4") <= 300
    assert await throttle.retry_after("5.6.7.8") == 0  # other addresses are not affected
    await throttle.succeeded("1.2.3.4")
    assert await throttle.retry_after("1.2.3.4") == 0  # a success forgets the failures


async def test_the_global_bucket_makes_everyone_wait(make_throttle: Make) -> None:
    throttle = make_throttle(free_failures=100, global_per_minute=10)
    for i in range(10):
        await throttle.failed(f"10.0.0.{i}", "test")
    assert 0 < await throttle.retry_after("192.168.0.1") <= 60


async def test_failures_are_logged_without_the_key(
    make_throttle: Make, caplog: pytest.LogCaptureFixture
) -> None:
    throttle = make_throttle()
    with caplog.at_level(logging.WARNING, logger="jditem.server.auth"):
        await throttle.failed("9.9.9.9", "admin API")
    assert "admin API: wrong admin key from 9.9.9.9 (1 failures in a row)" in caplog.text


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_delay_doubles_after_the_free_failures_and_is_capped() -> None:
    clock = FakeClock()
    throttle = AuthThrottle(free_failures=3, max_delay_seconds=10, clock=clock)
    waits = []
    for _ in range(8):
        waits.append(await throttle.retry_after("1.2.3.4"))
        await throttle.failed("1.2.3.4", "test")
    assert waits[:3] == [0, 0, 0]
    assert await throttle.retry_after("1.2.3.4") == 10  # 1, 2, 4, 8, then the cap
    assert await throttle.retry_after("5.6.7.8") == 0  # other addresses are not affected
    clock.now += 10
    assert await throttle.retry_after("1.2.3.4") == 0
    await throttle.succeeded("1.2.3.4")
    await throttle.failed("1.2.3.4", "test")
    assert await throttle.retry_after("1.2.3.4") == 0  # a success forgot the old failures


async def test_failures_are_forgotten_after_the_window() -> None:
    clock = FakeClock()
    throttle = AuthThrottle(free_failures=1, window_seconds=60, clock=clock)
    await throttle.failed("a", "test")
    await throttle.failed("a", "test")
    assert await throttle.retry_after("a") > 0
    clock.now += 61
    assert await throttle.retry_after("a") == 0


async def test_the_global_bucket_empties_after_a_minute() -> None:
    clock = FakeClock()
    throttle = AuthThrottle(free_failures=100, global_per_minute=10, clock=clock)
    for i in range(10):
        await throttle.failed(f"10.0.0.{i}", "test")
    assert 0 < await throttle.retry_after("192.168.0.1") <= 60
    clock.now += 60
    assert await throttle.retry_after("192.168.0.1") == 0
