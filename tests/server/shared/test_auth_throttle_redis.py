"""The Redis throttle beyond the contract (``test_auth_throttle.py``): processes share
their failures, and each falls back to its own memory while Redis is down."""

from __future__ import annotations

from jditem.server.shared.auth_throttle_redis import RedisAuthThrottle
from tests.server.shared.redis_parts import started_link
from tests.support.redis_server import RedisServer


async def test_processes_share_their_failures_through_redis(redis_server: RedisServer) -> None:
    """Failures counted by one process hold back the same address in another, and a
    success in either forgets them for both."""
    links = [await started_link(redis_server.url), await started_link(redis_server.url)]
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
    links = [await started_link(redis_server.url), await started_link(redis_server.url)]
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
    link = await started_link(redis_server.url)
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
