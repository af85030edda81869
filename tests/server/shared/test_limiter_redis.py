"""The Redis token bucket beyond the contract (``test_limiter.py``): one limit shared by
every process, a per-process share while Redis is down."""

from __future__ import annotations

import asyncio
import math

from jditem.server.shared.limiter_redis import RedisRateLimiter
from tests.server.shared.redis_parts import started_link
from tests.support.redis_server import RedisServer


async def test_two_processes_share_one_bucket(redis_server: RedisServer) -> None:
    """Two limiters (as two processes would hold) admit the burst once, not twice."""
    links = [await started_link(redis_server.url), await started_link(redis_server.url)]
    try:
        limiters = [RedisRateLimiter(link) for link in links]
        # rate 0.001/s: no refill during the test, so exactly `burst` admissions in total
        results = await asyncio.gather(
            *(limiters[i % 2].acquire("token:1", 0.001, 10) for i in range(60))
        )
        assert all(link.up for link in links)  # every answer came from the shared bucket
        admitted = [r for r in results if r is None]
        assert len(admitted) == 10
        refused = [r for r in results if r is not None]
        assert all(r > 0 for r in refused)
    finally:
        for link in links:
            await link.stop()


async def test_redis_down_falls_back_to_a_per_process_share(redis_server: RedisServer) -> None:
    """With 2 live API processes seen, each admits ⌈burst/2⌉ while Redis is down; no error."""
    links = [await started_link(redis_server.url), await started_link(redis_server.url)]
    try:
        for link in links:
            await link.beat()
        assert links[0].api_processes == 2
        limiter = RedisRateLimiter(links[0])
        redis_server.stop()
        results = [await limiter.acquire("token:9", 0.001, 10) for _ in range(20)]
        assert sum(1 for r in results if r is None) == math.ceil(10 / 2)
        assert links[0].up is False
    finally:
        redis_server.start()
        for link in links:
            await link.stop()


async def test_back_to_shared_after_redis_returns(redis_server: RedisServer) -> None:
    link = await started_link(redis_server.url)
    try:
        limiter = RedisRateLimiter(link)
        redis_server.stop()
        assert await limiter.acquire("k2", 100, 5) is None  # fallback, no error
        redis_server.start()
        await link.beat()
        assert link.up
        assert await limiter.acquire("k2", 0.001, 1) is None  # shared bucket again
        assert await limiter.acquire("k2", 0.001, 1) is not None
    finally:
        await link.stop()


async def _script_calls(redis_server: RedisServer) -> int:
    link = await started_link(redis_server.url)
    try:
        stats = await link.client.info("commandstats")
        return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "eval"))
    finally:
        await link.stop()


async def test_one_tick_of_takes_is_one_script_call_admitting_the_first_k(
    redis_server: RedisServer,
) -> None:
    """40 concurrent takes of one token: one round trip, and exactly the first 10 callers
    (in arrival order) admitted — what 40 takes one by one would have answered."""
    link = await started_link(redis_server.url)
    try:
        limiter = RedisRateLimiter(link)
        assert await limiter.acquire("token:warm", 0.001, 1) is None  # loads the script
        before = await _script_calls(redis_server)
        results = await asyncio.gather(*(limiter.acquire("token:7", 0.001, 10) for _ in range(40)))
        assert await _script_calls(redis_server) - before == 1
        assert results[:10] == [None] * 10
        waits = results[10:]
        assert all(w is not None and w > 0 for w in waits)
        assert len(set(waits)) == 1  # the refused took nothing: each is told the same wait
        # the bucket is empty now: the next tick's take is refused too
        assert await limiter.acquire("token:7", 0.001, 10) is not None
    finally:
        await link.stop()


async def test_a_tick_of_takes_falls_back_together_when_redis_fails(
    redis_server: RedisServer,
) -> None:
    """Redis gone (noticed by the tick's script call or by the heartbeat): every take
    of the tick falls back to the per-process share (one process: the burst), no error."""
    link = await started_link(redis_server.url)
    try:
        limiter = RedisRateLimiter(link)
        assert link.up
        redis_server.stop()
        results = await asyncio.gather(*(limiter.acquire("token:8", 0.001, 4) for _ in range(10)))
        assert sum(1 for r in results if r is None) == 4
        assert link.up is False
    finally:
        redis_server.start()
        await link.stop()
