"""The watch scheduler in the scale-out profile with real processes (SPEC §6.2).

Two API processes (no workers: no scheduler) and two ``jditem worker`` processes on a
fresh PostgreSQL database and the session's Redis: exactly one worker schedules; after
``kill -9`` of it the other takes over once its lease runs out, and no slot of an item
is charged twice. Bounded waits on conditions, never sleeps.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.postgres import PgCluster
from tests.support.processes import Deployment, scale_out, wait_until
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.slow

LEASE = 2.0


def _charged(deployment: Deployment) -> int:
    return int(
        deployment.scalar(
            "SELECT COUNT(*) FROM call_records WHERE watch_list_id IS NOT NULL AND charged > 0"
        )
    )


def _owner(deployment: Deployment) -> str | None:
    owner = deployment.scalar("SELECT owner FROM singleton_leases WHERE name = 'watch-scheduler'")
    return str(owner) if owner is not None else None


def test_kill_9_of_the_scheduling_worker_hands_over_without_double_charges(
    pg_cluster: PgCluster, redis_session: RedisServer
) -> None:
    if not redis_session.ping():
        redis_session.start()
    redis_session.flush()
    settings = {
        "lease_seconds": str(LEASE),
        "watch_tick_seconds": "0.2",
        "watch_min_interval_seconds": "1",
    }
    with scale_out(pg_cluster, redis_session, **settings) as deployment:
        token = deployment.make_token("watch-chaos")
        answer = httpx.post(
            f"{deployment.base_url}/api/watch/lists",
            json={
                "name": "chaos",
                "intervalSeconds": 2,
                "dailyBudget": "100",
                "items": [str(900_000_000_000 + n) for n in range(6)],
            },
            headers={"Authorization": f"Bearer {token}"},
            timeout=30.0,
        ).json()
        assert answer["code"] == 0, answer
        wait_until(lambda: _charged(deployment) >= 6, "the first checks")
        owner = _owner(deployment)
        assert owner is not None
        pid = int(owner.split(":")[1])
        workers = [p for p in deployment.procs if p.name.startswith("worker")]
        holder = next(p for p in workers if p.popen.pid == pid)
        holder.kill9()
        killed_at = time.monotonic()
        wait_until(lambda: _owner(deployment) not in (None, owner), "another worker to take over")
        took = time.monotonic() - killed_at
        before = _charged(deployment)
        wait_until(lambda: _charged(deployment) >= before + 6, "checks after the takeover")
        # Every charged check holds its own slot's key: no slot was charged twice, and
        # every charge is a code-0 answer (no charge without an observation).
        assert (
            deployment.scalar(
                "SELECT (SELECT COUNT(*) FROM call_records WHERE watch_list_id IS NOT NULL "
                "AND charged > 0) - (SELECT COUNT(DISTINCT key) FROM idempotency_keys "
                "WHERE key LIKE 'watch-%')"
            )
            == 0
        )
        assert (
            deployment.scalar(
                "SELECT COUNT(*) FROM call_records WHERE watch_list_id IS NOT NULL "
                "AND charged > 0 AND code <> 0"
            )
            == 0
        )
        # reported, not asserted against a wall clock: the lease bounds it by design
        print(f"takeover {took:.1f} s after kill -9 (lease {LEASE} s)")
