"""Chaos tests of the scale-out profile with real processes (SPEC §2.8, issue 8 item 6).

``jditem serve --processes 2 --workers 0`` + two ``jditem worker`` on a fresh
PostgreSQL database and the session's Redis, loopback only. Every loop is bounded in
count and time; the tests wait on conditions, never on sleeps.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from jditem.server.shared.broadcast import TASK_DONE
from jditem.server.shared.broadcast_redis import CHANNEL
from tests.support.postgres import PgCluster
from tests.support.processes import V2_PATH, Deployment, scale_out
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

PRICE = 100  # units per successful call (the default price)


@pytest.fixture(scope="module")
def deployment(pg_cluster: PgCluster, redis_session: RedisServer) -> Iterator[Deployment]:
    """One deployment for the tests that do not kill anything."""
    if not redis_session.ping():
        redis_session.start()
    redis_session.flush()
    with scale_out(pg_cluster, redis_session) as running:
        yield running


async def _calls(
    base_url: str, requests: list[tuple[str, str]], *, concurrency: int = 100
) -> list[dict[str, Any]]:
    """Make the (token, item) calls concurrently; each answer's JSON body (None on a
    connection error, e.g. the process that held it was killed)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0, limits=limits) as client:

        async def one(token: str, item: str) -> dict[str, Any]:
            try:
                response = await client.get(V2_PATH, params={"itemId": item, "token": token})
                body: dict[str, Any] = response.json()
                return body
            except httpx.TransportError as exc:
                return {"code": None, "error": type(exc).__name__}

        return await asyncio.gather(*(one(t, i) for t, i in requests))


def calls(deployment: Deployment, requests: list[tuple[str, str]], **kw: Any) -> list[Any]:
    return asyncio.run(_calls(deployment.base_url, requests, **kw))


def _money(deployment: Deployment, account: str) -> tuple[int, int, int]:
    """(balance, Σ ledger charges, Σ token spend) of ``account``."""
    balance = deployment.scalar("SELECT balance FROM accounts WHERE name = :a", a=account)
    ledger = deployment.scalar(
        "SELECT COALESCE(SUM(l.amount), 0) FROM ledger l JOIN accounts a ON a.id = l.account_id "
        "WHERE a.name = :a AND l.kind = 'charge'",
        a=account,
    )
    spent = deployment.scalar(
        "SELECT COALESCE(SUM(t.spent), 0) FROM tokens t JOIN accounts a ON a.id = t.account_id "
        "WHERE a.name = :a",
        a=account,
    )
    return int(balance), int(ledger), int(spent)


def test_400_calls_from_3_tokens_with_balance_for_5_charge_exactly_5(
    deployment: Deployment,
) -> None:
    tokens = [deployment.make_token("five", balance_yuan="0.05") for _ in range(3)]
    answers = calls(deployment, [(tokens[i % 3], "100012043978") for i in range(400)])
    codes = [a["code"] for a in answers]
    assert codes.count(0) == 5, sorted(set(codes))
    assert set(codes) <= {0, 601}, [a for a in answers if a["code"] not in (0, 601)]
    balance, ledger, spent = _money(deployment, "five")
    assert (balance, ledger, spent) == (0, -5 * PRICE, 5 * PRICE)


def test_budget_and_daily_quota_hold_across_processes(deployment: Deployment) -> None:
    budget = deployment.make_token("budget", budget_yuan="0.05")
    quota = deployment.make_token("quota", daily_quota=5)
    answers = calls(deployment, [(budget if i % 2 else quota, "100012043978") for i in range(400)])
    by_token = {budget: [], quota: []}  # type: dict[str, list[int]]
    for i, answer in enumerate(answers):
        by_token[budget if i % 2 else quota].append(answer["code"])
    assert by_token[budget].count(0) == 5
    assert by_token[quota].count(0) == 5
    for account in ("budget", "quota"):
        balance, ledger, spent = _money(deployment, account)
        assert (10_000_00 - balance, -ledger, spent) == (5 * PRICE,) * 3


def test_rate_limit_is_per_token_in_total_across_api_processes(deployment: Deployment) -> None:
    """Burst 4 and a negligible refill, 60 concurrent calls through both API processes:
    4 admitted in total (not 4 per process), the rest told to slow down (302)."""
    burst = 4
    token = deployment.make_token("rated", rate_limit=0.001, burst=burst)
    answers = calls(deployment, [(token, "100012043978")] * 60, concurrency=20)
    codes = [a["code"] for a in answers]
    assert codes.count(0) == burst, codes
    assert codes.count(302) == 60 - burst, codes
    assert len(deployment.api_pids()) >= 2


def test_50_concurrent_first_calls_for_one_item_make_one_task(deployment: Deployment) -> None:
    token = deployment.make_token("coalesce")
    item = "100000770001"
    answers = calls(deployment, [(token, item)] * 50, concurrency=50)
    assert [a["code"] for a in answers] == [0] * 50
    assert deployment.scalar("SELECT COUNT(*) FROM tasks WHERE item_id = :i", i=item) == 1
    attempts = deployment.scalar("SELECT attempt FROM tasks WHERE item_id = :i", i=item)
    assert attempts == 1  # collected once


def test_a_first_call_is_answered_by_a_wake_up_from_another_process(
    deployment: Deployment,
) -> None:
    """The API processes collect nothing (--workers 0): the completion in a worker process
    must wake the waiting caller. The answer alone does not show how it came (the waiter's
    backstop re-read would find the finished task too), so the test also listens on the
    Redis bus the API processes listen on, and requires each item's "done" there."""
    token = deployment.make_token("wake")
    items = [f"10000088000{n}" for n in range(5)]
    bus = redis.Redis.from_url(deployment.redis_url)
    listener = bus.pubsub(ignore_subscribe_messages=True)
    try:
        listener.subscribe(CHANNEL)
        for item in items:
            assert calls(deployment, [(token, item)])[0]["code"] == 0
        announced: set[str] = set()

        def every_done_announced() -> bool:
            message = listener.get_message(timeout=0.05)
            if message is not None:
                _sender, topic, item = message["data"].decode().split("\t", 2)
                if topic == TASK_DONE:
                    announced.add(item)
            return announced >= set(items)

        wait_until(every_done_announced, what="each item's completion on the bus", timeout=60)
    finally:
        listener.close()
        bus.close()


def test_kill_9_worker_holding_20_leases_loses_nothing(
    pg_cluster: PgCluster, redis_server: RedisServer
) -> None:
    """Worker 1 leases 20 tasks (slow collections), is killed -9; worker 2 (started after)
    re-leases them when the leases expire: 20 items delivered, each charged once."""
    with scale_out(
        pg_cluster,
        redis_server,
        workers=1,
        worker_threads=20,
        sandbox_latency_ms="[4000, 4000]",
        lease_seconds="3",
        heartbeat_seconds="1",
        wait_seconds="60",
    ) as d:
        token = d.make_token("leases")
        items = [f"1000009900{n:02d}" for n in range(20)]
        results: list[Any] = []
        caller = threading.Thread(
            target=lambda: results.extend(calls(d, [(token, i) for i in items])), daemon=True
        )
        caller.start()
        worker1 = d.procs[-1]
        pid = worker1.popen.pid
        worker1.wait_for(
            lambda: (
                d.scalar(
                    "SELECT COUNT(*) FROM tasks WHERE status = 'running' AND lease_owner LIKE :o",
                    o=f"%:{pid}:%",
                )
                == 20
            ),
            "worker 1 to hold 20 leases",
        )
        worker1.kill9()
        d.start_worker("worker2", 20, sandbox_latency_ms="[100, 200]")
        caller.join(120.0)
        assert not caller.is_alive()
        assert [r["code"] for r in results] == [0] * 20
        assert d.scalar("SELECT COUNT(*) FROM results WHERE status = 'ok'") == 20
        assert d.scalar("SELECT COUNT(*) FROM tasks") == 20  # re-leased, not re-created
        balance, ledger, spent = _money(d, "leases")
        assert (10_000_00 - balance, -ledger, spent) == (20 * PRICE,) * 3


def test_kill_9_api_process_under_load_loses_nothing_answered(
    pg_cluster: PgCluster, redis_server: RedisServer
) -> None:
    with scale_out(pg_cluster, redis_server) as d:
        token = d.make_token("apikill", balance_yuan="1000")
        victim = d.api_pids()[0]
        answered: list[Any] = []

        def load() -> None:
            for round_ in range(10):  # bounded
                answered.extend(
                    calls(d, [(token, f"1000001{round_:02d}{n:03d}") for n in range(40)])
                )

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        wait_until(lambda: len(answered) >= 80, "load to be answered", timeout=60)
        import os
        import signal

        os.kill(victim, signal.SIGKILL)
        loader.join(240.0)
        assert not loader.is_alive()
        after = calls(d, [(token, "100012043978")] * 20)
        assert [a["code"] for a in after] == [0] * 20  # the survivor keeps answering
        ok = [a for a in answered + after if a.get("code") == 0]
        assert len(ok) > 80
        ids = [a["requestId"] for a in ok]
        charged = d.scalar(
            "SELECT COUNT(*) FROM ledger WHERE kind = 'charge' AND request_id = ANY(:ids)",
            ids=ids,
        )
        recorded = d.scalar(
            "SELECT COUNT(*) FROM call_records WHERE code = 0 AND request_id = ANY(:ids)",
            ids=ids,
        )
        assert charged == len(ok)
        assert recorded == len(ok)
        balance, ledger, spent = _money(d, "apikill")
        assert 1000_0000 - balance == -ledger == spent


def test_redis_stopped_under_load_calls_are_answered_and_charged_exactly(
    pg_cluster: PgCluster, redis_server: RedisServer
) -> None:
    with scale_out(pg_cluster, redis_server) as d:
        token = d.make_token("noredis", balance_yuan="1000")
        first = calls(d, [(token, f"10000055{n:04d}") for n in range(40)])
        redis_server.stop()
        try:
            during = calls(d, [(token, f"10000056{n:04d}") for n in range(40)])

            def degraded() -> bool:
                data = httpx.get(d.base_url + "/api/health", timeout=10).json()["data"]
                return bool(data["status"] == "degraded")

            wait_until(degraded, what="health to say degraded")
        finally:
            redis_server.start()

        def healthy() -> bool:
            return all(
                httpx.get(d.base_url + "/api/health", timeout=10).json()["data"]["status"] == "ok"
                for _ in range(4)  # both processes, most likely
            )

        wait_until(healthy, what="health to recover")
        after = calls(d, [(token, f"10000057{n:04d}") for n in range(40)])
        answers = first + during + after
        assert [a["code"] for a in answers] == [0] * 120
        balance, ledger, spent = _money(d, "noredis")
        assert (1000_0000 - balance, -ledger, spent) == (120 * PRICE,) * 3
