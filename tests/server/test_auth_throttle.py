"""The failed-admin-key throttle with a fake clock: free failures, a doubling delay,
the global bucket, and forgetting."""

from __future__ import annotations

import logging

import pytest

from jditem.server.auth_throttle import AuthThrottle


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_delay_doubles_after_the_free_failures_and_is_capped() -> None:
    clock = FakeClock()
    throttle = AuthThrottle(free_failures=3, max_delay_seconds=10, clock=clock)
    waits = []
    for _ in range(8):
        waits.append(throttle.retry_after("1.2.3.4"))
        throttle.failed("1.2.3.4", "test")
    assert waits[:3] == [0, 0, 0]
    assert throttle.retry_after("1.2.3.4") == 10  # 1, 2, 4, 8, then the cap
    assert throttle.retry_after("5.6.7.8") == 0  # other addresses are not affected
    clock.now += 10
    assert throttle.retry_after("1.2.3.4") == 0
    throttle.succeeded("1.2.3.4")
    throttle.failed("1.2.3.4", "test")
    assert throttle.retry_after("1.2.3.4") == 0  # a success forgot the old failures


def test_failures_are_forgotten_after_the_window() -> None:
    clock = FakeClock()
    throttle = AuthThrottle(free_failures=1, window_seconds=60, clock=clock)
    throttle.failed("a", "test")
    throttle.failed("a", "test")
    assert throttle.retry_after("a") > 0
    clock.now += 61
    assert throttle.retry_after("a") == 0


def test_the_global_bucket_makes_everyone_wait() -> None:
    clock = FakeClock()
    throttle = AuthThrottle(free_failures=100, global_per_minute=10, clock=clock)
    for i in range(10):
        throttle.failed(f"10.0.0.{i}", "test")
    assert 0 < throttle.retry_after("192.168.0.1") <= 60
    clock.now += 60
    assert throttle.retry_after("192.168.0.1") == 0


def test_failures_are_logged_without_the_key(caplog: pytest.LogCaptureFixture) -> None:
    throttle = AuthThrottle()
    with caplog.at_level(logging.WARNING, logger="jditem.server.auth"):
        throttle.failed("9.9.9.9", "admin API")
    assert "admin API: wrong admin key from 9.9.9.9 (1 failures in a row)" in caplog.text
