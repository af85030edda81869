"""RedisLink: never shows a Redis password; liveness flips with the server."""

from __future__ import annotations

from jditem.server.settings import Settings
from jditem.server.shared.redis_link import RedisLink
from jditem.server.shared.redis_url import display_redis_url
from tests.support.redis_server import RedisServer


def test_passwords_are_redacted() -> None:
    assert display_redis_url("redis://:s3cret@host:6379/0") == "redis://***@host:6379/0"
    assert display_redis_url("redis://user:s3cret@host/1") == "redis://user:***@host/1"
    assert display_redis_url("unix:///run/redis.sock") == "unix:///run/redis.sock"
    assert "s3cret" not in repr(RedisLink("redis://:s3cret@127.0.0.1:1/0"))
    assert "s3cret" not in repr(Settings(redis_url="redis://:s3cret@h/0"))


async def test_heartbeat_tracks_liveness_and_api_processes(redis_server: RedisServer) -> None:
    api, worker = (
        RedisLink(redis_server.url, role="api"),
        RedisLink(redis_server.url, role="worker"),
    )
    try:
        await api.beat()
        await worker.beat()
        await api.beat()
        assert api.up
        assert api.api_processes == 1  # workers do not count towards the R/N share
        redis_server.stop()
        await api.beat()
        assert not api.up
        assert api.api_processes == 1  # last known value kept while Redis is down
    finally:
        redis_server.start()
        await api.stop()
        await worker.stop()
