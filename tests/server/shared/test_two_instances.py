"""Two server instances sharing one database and one Redis behave as one server.

Each ``live_server`` here is a full app (its own event loop, limiter, notifier, caches,
Redis connections) — what one process of a scale-out deployment holds — sharing a
SQLite file and the session's throwaway Redis. The multi-process chaos tests with real
``jditem serve``/``jditem worker`` processes are in ``tests/server/test_scale_out_processes.py``.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from tests.support.live_server import LiveServer, live_server
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

#: Generous bounds: conditions are polled, never slept on.
DEADLINE = 20.0
ITEM = "100012043978"


@contextmanager
def pair(redis_url: str, a: dict[str, Any], b: dict[str, Any]) -> Iterator[list[LiveServer]]:
    """Two app instances on one SQLite file and one Redis (same admin key)."""
    home = Path(tempfile.mkdtemp(prefix="jditem-pair-"))
    common = {
        "home": home,
        "database_url": f"sqlite+aiosqlite:///{home / 'server.db'}",
        "redis_url": redis_url,
        "admin_key": secrets.token_urlsafe(32),
    }
    with ExitStack() as stack:
        first = stack.enter_context(live_server(**{**common, **a}))
        second = stack.enter_context(live_server(**{**common, **b}))
        yield [first, second]


def test_a_token_disabled_through_one_process_is_refused_by_the_other(
    redis_server: RedisServer,
) -> None:
    """With a 60 s identity cache, only the broadcast can make the other process refuse."""
    with pair(redis_server.url, {"token_cache_seconds": 60}, {"token_cache_seconds": 60}) as (
        a,
        b,
    ):
        token = a.make_token("acme")
        assert b.get(ITEM, token).json()["code"] == 0  # cached in b now
        token_id = a.admin("GET", "/tokens")[0]["id"]
        a.admin("POST", f"/tokens/{token_id}/disable")
        wait_until(
            lambda: b.get(ITEM, token).json()["code"] == 100,
            what="b to refuse the token",
            timeout=DEADLINE,
        )


def test_first_call_is_answered_when_the_worker_is_another_process(
    redis_server: RedisServer,
) -> None:
    """API-only instance + worker instance: the completion wakes the waiting caller.

    The answer alone does not show how it came (the waiter's 5 s backstop re-read would
    find the finished task too), and how fast it came depends on the machine. So the
    test also listens on the API instance's notifier — what wakes its waiters — and
    requires the worker instance's "done" to arrive there.
    """
    item = "100000000001"
    with pair(
        redis_server.url,
        {"workers": 0, "role": "api", "wait_seconds": 30},
        {"workers": 2, "role": "worker"},
    ) as (api, _worker):
        token = api.make_token("acme")
        subscribed, woken = threading.Event(), threading.Event()

        async def listen() -> None:
            async with api.ctx.notifier.subscribe(item) as sub:
                subscribed.set()
                if await sub.wait(3 * DEADLINE):
                    woken.set()

        listening = asyncio.run_coroutine_threadsafe(listen(), api.uvicorn.loop)
        assert subscribed.wait(DEADLINE)
        body = api.get(item, token).json()
        assert body["code"] == 0, body
        assert woken.wait(DEADLINE), "the worker instance's completion never reached the API"
        listening.result(DEADLINE)


def test_rate_limit_is_shared_by_both_instances(redis_server: RedisServer) -> None:
    """A token with burst 6 and a negligible refill is admitted 6 times in total, not 12."""
    with pair(redis_server.url, {}, {}) as (a, b):
        token = a.make_token("acme", rate=0.001, burst=6)
        codes = [(a if i % 2 else b).get(ITEM, token).json()["code"] for i in range(20)]
        assert codes.count(0) == 6
        assert codes.count(302) == 14


def test_health_window_counts_calls_of_both_instances(redis_server: RedisServer) -> None:
    with pair(redis_server.url, {"health_min_samples": 1}, {"health_min_samples": 1}) as (a, b):
        token = a.make_token("acme")
        for server in (a, b, a, b, a):
            assert server.get(ITEM, token).json()["code"] == 0

        def samples(server: LiveServer) -> int:
            data = server.http.get("/api/health/jd/get-item-detail/v2").json()["data"]
            return int(data["samples"])

        wait_until(
            lambda: samples(a) == 5 and samples(b) == 5,
            what="both to report 5 samples",
            timeout=DEADLINE,
        )


def test_redis_down_keeps_answering_and_health_says_degraded(redis_server: RedisServer) -> None:
    with pair(redis_server.url, {}, {}) as (a, b):
        token = a.make_token("acme", balance_yuan="1")
        assert a.http.get("/api/health").json()["data"]["redis"] == "ok"
        redis_server.stop()
        try:
            codes = [(a if i % 2 else b).get(str(100000000100 + i), token) for i in range(6)]
            assert [r.json()["code"] for r in codes] == [0] * 6
            wait_until(
                lambda: a.http.get("/api/health").json()["data"]["status"] == "degraded",
                what="health to say degraded",
                timeout=DEADLINE,
            )
            assert a.http.get("/api/health").json()["data"]["redis"] == "unreachable"
        finally:
            redis_server.start()
        wait_until(
            lambda: a.http.get("/api/health").json()["data"]["status"] == "ok",
            what="health to recover",
            timeout=DEADLINE,
        )
        assert b.get(ITEM, token).json()["code"] == 0
        # 7 answered code 0 → 7 charges of 100 units from 10 000
        assert a.scalar("SELECT balance FROM accounts WHERE name = 'acme'") == 10_000 - 700
        assert a.scalar("SELECT SUM(amount) FROM ledger WHERE kind = 'charge'") == -700
        b.flush()  # each process buffers its own call records
        assert a.scalar("SELECT COUNT(*) FROM call_records WHERE code = 0") == 7


def test_a_task_finished_elsewhere_drops_the_fresh_copy(redis_server: RedisServer) -> None:
    """The in-memory fresh result of an item is dropped in every process when a task for
    it finishes anywhere (its row may have been replaced); the next call re-reads it."""
    from jditem.server.context import ServerContext
    from jditem.server.shared.broadcast import TASK_DONE

    async def copy(ctx: ServerContext) -> bool:
        return ctx.tasks.fresh_result(ITEM) is not None

    async def finished(ctx: ServerContext) -> None:
        await ctx.shared.broadcast.publish(TASK_DONE, ITEM)

    with pair(redis_server.url, {}, {}) as (a, b):
        token = a.make_token("acme")
        assert b.get(ITEM, token).json()["code"] == 0
        assert b.run(copy)
        a.run(finished)
        wait_until(lambda: not b.run(copy), what="b to drop its copy", timeout=DEADLINE)
        assert b.get(ITEM, token).json()["code"] == 0  # read again from the table
        assert b.run(copy)
