"""Shared fixtures. ``live``: a real server on 127.0.0.1 (see tests/support/live_server.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.live_server import LiveServer, live_server
from tests.support.redis_server import RedisServer, RedisUnavailable, start_redis


@pytest.fixture
def live() -> Iterator[LiveServer]:
    """A running server with test defaults (temp SQLite, fast sandbox, no rate limit)."""
    with live_server() as server:
        yield server


def services_required() -> bool:
    """True in CI (``.ci/run`` sets ``JDITEM_REQUIRE_SERVICES=1``): a missing service fails."""
    return os.environ.get("JDITEM_REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="session")
def redis_session() -> Iterator[RedisServer]:
    """A throwaway redis-server for the whole session (skips loudly when unavailable)."""
    try:
        server = start_redis()
    except RedisUnavailable as exc:
        if services_required():
            pytest.fail(f"scale-out tests need Redis: {exc}")
        pytest.skip(f"SCALE-OUT TESTS SKIPPED: {exc}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_server(redis_session: RedisServer) -> RedisServer:
    """The session's redis-server, running and empty for this test."""
    if not redis_session.ping():
        redis_session.start()
    redis_session.flush()
    return redis_session
