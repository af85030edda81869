"""Each shared-state Protocol, built in both of its implementations (SPEC §2.8).

The contract tests of a Protocol take its fixture here and run once per implementation:
``embedded`` (in memory, one process) and ``redis`` (the scale-out profile, against the
session's throwaway redis-server). What only one implementation does (a fake clock, a
second process, Redis going down) is tested in that implementation's own file.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable

import pytest

from jditem.server.shared.auth_throttle import AuthThrottle
from jditem.server.shared.auth_throttle_redis import RedisAuthThrottle
from jditem.server.shared.limiter import InMemoryRateLimiter, RateLimiter
from jditem.server.shared.limiter_redis import RedisRateLimiter
from jditem.server.shared.notify import InProcessNotifier, Notifier
from tests.server.shared.redis_parts import redis_notifier, started_link
from tests.support.redis_server import RedisServer

IMPLEMENTATIONS = ("embedded", "redis")


def _redis(request: pytest.FixtureRequest) -> RedisServer:
    server: RedisServer = request.getfixturevalue("redis_server")
    return server


@pytest.fixture(params=IMPLEMENTATIONS)
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    """A rate limiter of each implementation."""
    if request.param == "embedded":
        yield InMemoryRateLimiter()
        return
    link = await started_link(_redis(request).url)
    try:
        yield RedisRateLimiter(link)
        assert link.up, "an answer came from the fallback, not from Redis"
    finally:
        await link.stop()


@pytest.fixture(params=IMPLEMENTATIONS)
async def notifier(request: pytest.FixtureRequest) -> AsyncIterator[Notifier]:
    """A notifier of each implementation."""
    if request.param == "embedded":
        yield InProcessNotifier()
        return
    async with redis_notifier(_redis(request).url) as notifier:
        yield notifier


@pytest.fixture(params=IMPLEMENTATIONS)
async def make_throttle(
    request: pytest.FixtureRequest,
) -> AsyncIterator[Callable[..., AuthThrottle]]:
    """Failed-credential throttles of each implementation, from their rules (keyword
    arguments, as :class:`AuthThrottle` takes them)."""
    if request.param == "embedded":
        yield AuthThrottle
        return
    link = await started_link(_redis(request).url)
    try:
        yield functools.partial(RedisAuthThrottle, link)
        assert link.up, "an answer came from the fallback, not from Redis"
    finally:
        await link.stop()
