"""One watch scheduler per deployment (SPEC §6.2), on each store profile: the role lease,
its expiry, and two server processes on one database of which exactly one schedules."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jditem.server.context import ServerContext
from jditem.server.jobs.singleton import RoleLease
from jditem.server.jobs.watch_scheduler import WatchScheduler
from tests.support.backends import FreshDatabase
from tests.support.clock import FrozenClock
from tests.support.live_server import LiveServer, live_server
from tests.support.waiting import wait_until

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
TIMEOUT = 60.0
FAST = {
    "lease_seconds": 2.0,
    "heartbeat_seconds": 0.5,
    "watch_tick_seconds": 0.1,
    "watch_min_interval_seconds": 1,
}


def test_the_role_lease_is_held_by_one_until_it_expires(live: LiveServer) -> None:
    clock = FrozenClock(T0)

    async def scenario(ctx: ServerContext) -> list[bool]:
        one = RoleLease(ctx.db, clock, "test-role", "one", 30)
        two = RoleLease(ctx.db, clock, "test-role", "two", 30)
        steps = [await one.acquire(), await two.acquire(), await one.acquire()]
        clock.set(T0 + timedelta(seconds=31))  # "one" died: its lease ran out
        steps += [await two.acquire(), await one.acquire()]
        await one.release()  # releases nothing it does not hold
        steps.append(await one.acquire())
        await two.release()
        steps.append(await one.acquire())
        return steps

    assert live.run(scenario) == [True, False, True, True, False, False, True]


def _owner(server: LiveServer) -> str | None:
    owner = server.scalar("SELECT owner FROM singleton_leases WHERE name = 'watch-scheduler'")
    return str(owner) if owner is not None else None


def _charges(server: LiveServer) -> int:
    return int(
        server.scalar(
            "SELECT COUNT(*) FROM call_records WHERE watch_list_id IS NOT NULL AND charged > 0"
        )
    )


def test_one_of_two_processes_schedules_and_the_other_takes_over(
    tmp_path: Path, fresh_database: FreshDatabase
) -> None:
    url = fresh_database.url or f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    with ExitStack() as stack:
        first = stack.enter_context(live_server(database_url=url, **FAST))
        second = stack.enter_context(live_server(database_url=url, **FAST))
        token = first.make_token("lease")
        answer = first.http.post(
            "/api/watch/lists",
            json={
                "name": "both",
                "intervalSeconds": 2,
                "dailyBudget": "100",
                "items": [str(800_000_000_000 + n) for n in range(4)],
            },
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert answer["code"] == 0, answer
        schedulers: list[WatchScheduler] = [s.app.state.watch for s in (first, second)]
        wait_until(
            lambda: any(s.leading for s in schedulers), "a scheduler to lead", timeout=TIMEOUT
        )
        wait_until(lambda: _charges(first) >= 4, "the first checks", timeout=TIMEOUT)
        owner = _owner(first)
        # the lease row names the leader (a flag may lag a renewal by a moment)
        leader, follower = (
            (first, second) if owner == schedulers[0].lease.owner else (second, first)
        )
        assert owner == leader.app.state.watch.lease.owner
        before = _charges(follower)
        leader.stop()  # gives the lease back: the other takes it at its next try
        wait_until(
            lambda: _owner(follower) == follower.app.state.watch.lease.owner,
            "a takeover",
            timeout=TIMEOUT,
        )
        wait_until(
            lambda: _charges(follower) >= before + 4, "checks after the takeover", timeout=TIMEOUT
        )
        # every charge of the list was made under its own slot's key: none twice
        # (one statement: one snapshot while the scheduler goes on)
        unkeyed = follower.scalar(
            "SELECT (SELECT COUNT(*) FROM call_records WHERE watch_list_id IS NOT NULL "
            "AND charged > 0) - (SELECT COUNT(DISTINCT key) FROM idempotency_keys "
            "WHERE key LIKE 'watch-%')"
        )
        assert unkeyed == 0


def test_the_scheduler_runs_only_in_the_worker_role() -> None:
    with live_server() as both, live_server(workers=0) as api_only:
        assert both.app.state.watch.running
        assert not api_only.app.state.watch.running
    with live_server(watch_scheduler=False) as off:
        assert not off.app.state.watch.running
