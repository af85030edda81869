"""The test session's throwaway redis-server (unix socket in a temp dir, no TCP).

The server itself is :mod:`jditem.server.devservices.redis_server` (the same code runs
``jditem dev services``): ``port 0``, a unix socket, no persistence, started and polled
with ``PING`` until it answers. :class:`RedisServer` can be stopped and started again
on the same socket (the chaos tests stop Redis under load) and flushed between tests.
"""

from __future__ import annotations

from jditem.server.devservices.redis_server import RedisServer, RedisUnavailable, start_redis

__all__ = ["RedisServer", "RedisUnavailable", "start_redis"]
