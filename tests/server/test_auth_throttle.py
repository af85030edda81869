"""The failed-credential throttle: with a fake clock (free failures, a doubling delay,
the global bucket, forgetting), and shared by processes through a real redis-server."""

from __future__ import annotations

import logging

import pytest

from jditem.server.shared.auth_throttle import AuthThrottle
from jditem.server.shared.auth_throttle_redis import RedisAuthThrottle
from jditem.server.shared.redis_link import RedisLink
from tests.support.redis_server import RedisServer


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


async def test_the_global_bucket_makes_everyone_wait() -> None:
    clock = FakeClock()
    throttle = AuthThrottle(free_failures=100, global_per_minute=10, clock=clock)
    for i in range(10):
        await throttle.failed(f"10.0.0.{i}", "test")
    assert 0 < await throttle.retry_after("192.168.0.1") <= 60
    clock.now += 60
    assert await throttle.retry_after("192.168.0.1") == 0


async def test_failures_are_logged_without_the_key(caplog: pytest.LogCaptureFixture) -> None:
    throttle = AuthThrottle()
    with caplog.at_level(logging.WARNING, logger="jditem.server.auth"):
        await throttle.failed("9.9.9.9", "admin API")
    assert "admin API: wrong admin key from 9.9.9.9 (1 failures in a row)" in caplog.text


async def _link(url: str) -> RedisLink:
    # generous timeouts: on a starved machine a slow reply must not look like "Redis down"
    link = RedisLink(url, role="api", pool_timeout=30.0, socket_timeout=30.0)
    await link.beat()
    return link


async def test_processes_share_their_failures_through_redis(redis_server: RedisServer) -> None:
    """Failures counted by one process hold back the same address in another, and a
    success in either forgets them for both."""
    links = [await _link(redis_server.url), await _link(redis_server.url)]
    try:
        first, second = (RedisAuthThrottle(link, free_failures=2) for link in links)
        for throttle in (first, second, first):
            await throttle.failed("203.0.113.9", "test")
        assert all(link.up for link in links)
        assert await second.retry_after("203.0.113.9") > 0  # 3 > 2 free, counted across both
        assert await first.retry_after("198.51.100.1") == 0  # other addresses are free
        await second.succeeded("203.0.113.9")
        assert await first.retry_after("203.0.113.9") == 0
    finally:
        for link in links:
            await link.stop()


async def test_the_global_count_is_shared_too(redis_server: RedisServer) -> None:
    links = [await _link(redis_server.url), await _link(redis_server.url)]
    try:
        first, second = (
            RedisAuthThrottle(link, free_failures=100, global_per_minute=4, what="password")
            for link in links
        )
        for i in range(4):
            await (first, second)[i % 2].failed(f"user{i}@example.com", "test")
        assert 0 < await second.retry_after("someone@example.com") <= 60
    finally:
        for link in links:
            await link.stop()


async def test_redis_down_falls_back_to_this_process(redis_server: RedisServer) -> None:
    link = await _link(redis_server.url)
    try:
        throttle = RedisAuthThrottle(link, free_failures=1)
        redis_server.stop()
        for _ in range(3):
            await throttle.failed("192.0.2.7", "test")  # no error reaches the caller
        assert link.up is False
        assert await throttle.retry_after("192.0.2.7") > 0  # the in-memory throttle holds
    finally:
        redis_server.start()
        await link.stop()
