"""WorkerPool: dead workers, lost leases, heartbeats, prompt wake-up, bounded stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jditem.server.clock import as_utc, utc_now
from jditem.server.collectors.base import CollectResult
from jditem.server.settings import Settings
from jditem.server.shared.notify import InProcessNotifier
from jditem.server.store.tables import Task
from jditem.server.tasks.leases import Leases
from jditem.server.tasks.service import TaskService
from jditem.server.tasks.worker import WorkerPool
from tests.support.waiting import await_until

from .conftest import FakeClock, ScriptedCollector, payload_for

Maker = async_sessionmaker[AsyncSession]
MakeSettings = Callable[..., Settings]


async def load(sm: Maker, task_id: str) -> Task:
    async with sm() as session:
        task = await session.get(Task, task_id)
        assert task is not None
        return task


async def test_dead_worker_lease_expires_and_attempt_2_completes(
    sessionmaker: Maker, notifier: InProcessNotifier, clock: FakeClock, make_settings: MakeSettings
) -> None:
    settings = make_settings(workers=1, lease_seconds=30)
    service = TaskService(sessionmaker, settings, notifier, clock)
    task_id = await service.submit("4242")
    leases = Leases(sessionmaker, lease_seconds=30, clock=clock)
    dead = await leases.claim("worker-that-died")  # claims, then never heartbeats
    assert dead is not None
    assert dead.attempt == 1

    waiter = asyncio.create_task(service.resolve("4242", wait_seconds=60))
    clock.advance(31)  # the dead worker's lease runs out
    collector = ScriptedCollector()
    pool = WorkerPool(sessionmaker, settings, collector, notifier, clock)
    await pool.start()
    try:
        outcome = await asyncio.wait_for(waiter, 60)
    finally:
        await pool.stop()
    assert outcome.kind == "ready"
    assert outcome.task_id == task_id
    assert outcome.payload == payload_for("4242")
    row = await load(sessionmaker, task_id)
    assert (row.status, row.attempt) == ("succeeded", 2)

    # The first attempt comes back from the dead: refused.
    assert await leases.heartbeat(dead) is False
    late = CollectResult.ok({"skuId": "4242", "late": True})
    assert await leases.complete(dead, late, result_ttl=60, negative_ttl=60) is False
    cached = await service.resolve("4242", wait_seconds=0)
    assert cached.from_cache
    assert cached.payload == payload_for("4242")


async def test_worker_that_loses_its_lease_abandons_the_task(
    sessionmaker: Maker, notifier: InProcessNotifier, clock: FakeClock, make_settings: MakeSettings
) -> None:
    settings = make_settings(workers=1, lease_seconds=30, heartbeat_seconds=0.05)
    service = TaskService(sessionmaker, settings, notifier, clock)
    collector = ScriptedCollector(gate=asyncio.Event())  # hangs until released
    pool = WorkerPool(sessionmaker, settings, collector, notifier, clock)
    await pool.start()
    try:
        task_id = await service.submit("77")
        await await_until(lambda: len(collector.calls) == 1, what="the collection to start")
        thief = None
        for _ in range(100):  # bounded; a heartbeat may renew between advance and claim
            clock.advance(31)  # e.g. the worker's heartbeats could not reach the database
            thief = await Leases(sessionmaker, lease_seconds=30, clock=clock).claim("other-process")
            if thief is not None:
                break
        assert thief is not None
        assert thief.attempt == 2
        # the next heartbeat is refused: the collection is cancelled
        await await_until(lambda: collector.cancelled == 1, what="the collection cancelled")
        row = await load(sessionmaker, task_id)
        assert (row.status, row.attempt, row.lease_owner) == ("running", 2, "other-process")
    finally:
        await pool.stop()


async def test_heartbeats_keep_a_long_collection_leased(
    sessionmaker: Maker, notifier: InProcessNotifier, clock: FakeClock, make_settings: MakeSettings
) -> None:
    """A collection outlasting its 2 s lease keeps the task: the clock jumps ten leases
    ahead mid-collection, a heartbeat renews the lease from the new "now", and a thief
    then finds nothing to claim.

    The clock is the fake one: the lease runs out only when the test moves the clock, so
    a busy machine delaying a heartbeat cannot turn into a stolen task."""
    settings = make_settings(workers=1, lease_seconds=2.0, heartbeat_seconds=0.05)
    service = TaskService(sessionmaker, settings, notifier, clock)
    gate = asyncio.Event()
    collector = ScriptedCollector(gate=gate)  # collects until the test opens the gate
    pool = WorkerPool(sessionmaker, settings, collector, notifier, clock)
    thief = Leases(sessionmaker, lease_seconds=2.0, clock=clock)

    async def renewed() -> bool:
        """Whether the lease now ends after the (moved) fake "now"."""
        async with sessionmaker() as session:
            expiry = await session.scalar(select(Task.lease_expires_at).where(Task.item_id == "5"))
        return expiry is not None and as_utc(expiry) > clock.now

    await pool.start()
    try:
        waiter = asyncio.create_task(service.resolve("5", wait_seconds=60))
        await await_until(lambda: len(collector.calls) == 1, what="the collection to start")
        clock.advance(20)  # the first lease ended long ago
        await await_until(renewed, what="a heartbeat to renew the lease")
        assert await thief.claim("thief") is None
        gate.set()
        outcome = await asyncio.wait_for(waiter, 60)
    finally:
        await pool.stop()
    assert outcome.kind == "ready"
    row = await load(sessionmaker, outcome.task_id or "")
    assert (row.status, row.attempt) == ("succeeded", 1)


async def test_new_task_wakes_an_idle_worker_at_once(
    sessionmaker: Maker, notifier: InProcessNotifier, clock: FakeClock, make_settings: MakeSettings
) -> None:
    """Idle workers poll once an hour here: only the wake-up can collect within the call's
    (generous) wait."""
    settings = make_settings(workers=2, worker_poll_seconds=3600)
    service = TaskService(sessionmaker, settings, notifier, clock)
    collector = ScriptedCollector()
    pool = WorkerPool(sessionmaker, settings, collector, notifier, clock)
    await pool.start()
    try:
        outcome = await service.resolve("6", wait_seconds=60)
    finally:
        await pool.stop()
    assert outcome.kind == "ready"


async def test_stop_is_bounded_and_gives_running_tasks_back(
    sessionmaker: Maker, notifier: InProcessNotifier, clock: FakeClock, make_settings: MakeSettings
) -> None:
    settings = make_settings(workers=2)
    service = TaskService(sessionmaker, settings, notifier, clock)
    collector = ScriptedCollector(gate=asyncio.Event())  # never finishes
    pool = WorkerPool(sessionmaker, settings, collector, notifier, clock, stop_timeout=0.2)
    await pool.start()
    task_id = await service.submit("3")
    await await_until(lambda: len(collector.calls) == 1, what="the collection to start")
    # bounded although the collection never ends (a generous bound for stop_timeout 0.2 s)
    await asyncio.wait_for(pool.stop(), 20)
    assert not pool.running
    row = await load(sessionmaker, task_id)
    assert (row.status, row.attempt, row.lease_owner) == ("queued", 1, None)

    # Another pool takes it over with the next attempt.
    collector.gate = None
    second = WorkerPool(sessionmaker, settings, collector, notifier, clock)
    await second.start()
    try:
        outcome = await service.resolve("3", wait_seconds=5)
    finally:
        await second.stop()
    assert outcome.kind == "ready"
    assert (await load(sessionmaker, task_id)).attempt == 2


async def test_collector_crash_counts_as_a_failed_attempt(
    sessionmaker: Maker, notifier: InProcessNotifier, clock: FakeClock, make_settings: MakeSettings
) -> None:
    def crash(item_id: str, call_no: int) -> CollectResult:
        if call_no == 1:
            raise KeyError("productInfo")
        return CollectResult.ok(payload_for(item_id, call_no))

    settings = make_settings(workers=1)
    service = TaskService(sessionmaker, settings, notifier, clock)
    collector = ScriptedCollector(script={"11": crash})
    pool = WorkerPool(sessionmaker, settings, collector, notifier, clock)
    await pool.start()
    try:
        outcome = await service.resolve("11", wait_seconds=5)
    finally:
        await pool.stop()
    assert outcome.kind == "ready"
    assert outcome.payload == payload_for("11", 2)
    row = await load(sessionmaker, outcome.task_id or "")
    assert row.attempt == 2


async def test_reaper_fails_an_expired_last_attempt_and_wakes_waiters(
    sessionmaker: Maker, notifier: InProcessNotifier, clock: FakeClock, make_settings: MakeSettings
) -> None:
    settings = make_settings(workers=1, max_attempts=1, lease_seconds=30)
    service = TaskService(sessionmaker, settings, notifier, clock, recheck_seconds=60)
    task_id = await service.submit("66")
    dead = await Leases(sessionmaker, lease_seconds=30, clock=clock).claim("dead")
    assert dead is not None
    waiter = asyncio.create_task(service.resolve("66", wait_seconds=60))
    clock.advance(31)
    collector = ScriptedCollector()
    pool = WorkerPool(sessionmaker, settings, collector, notifier, clock)
    await pool.start()
    try:
        outcome = await asyncio.wait_for(waiter, 60)
    finally:
        await pool.stop()
    assert outcome.kind == "failed"
    assert outcome.task_id == task_id
    assert outcome.error is not None
    assert "lease expired on attempt 1 of 1" in outcome.error
    assert collector.calls == []


async def test_a_hung_collection_times_out_as_a_failed_attempt(
    sessionmaker: Maker, notifier: InProcessNotifier, clock: FakeClock, make_settings: MakeSettings
) -> None:
    settings = make_settings(workers=1, max_attempts=2, collect_timeout_seconds=0.1)
    service = TaskService(sessionmaker, settings, notifier, clock)
    collector = ScriptedCollector(gate=asyncio.Event())  # never answers
    pool = WorkerPool(sessionmaker, settings, collector, notifier, clock)
    await pool.start()
    try:
        outcome = await service.resolve("88", wait_seconds=5)
    finally:
        await pool.stop()
    assert outcome.kind == "failed"
    assert outcome.error is not None
    assert "attempt 2 of 2" in outcome.error
    assert "collect_timeout_seconds" in outcome.error
    assert collector.cancelled == 2


def test_a_heartbeat_slower_than_the_lease_is_reported(
    sessionmaker: Maker,
    notifier: InProcessNotifier,
    make_settings: MakeSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(lease_seconds=5, heartbeat_seconds=10)
    WorkerPool(sessionmaker, settings, ScriptedCollector(), notifier)
    assert "JDITEM_HEARTBEAT_SECONDS" in caplog.text


async def test_failed_attempts_back_off_instead_of_retrying_at_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    notifier: InProcessNotifier,
    make_settings: Callable[..., Settings],
) -> None:
    """A failed collection is retried after retry_backoff_seconds (jittered ≥ half), not at once."""
    from jditem.server.collectors.base import CollectError

    seen: list[float] = []

    def fail_twice(item_id: str, call_no: int) -> CollectResult:
        seen.append(time.monotonic())
        if call_no < 3:
            raise CollectError("source hiccup")
        return CollectResult.ok(payload_for(item_id, call_no))

    settings = make_settings(retry_backoff_seconds=0.4, max_attempts=3)
    collector = ScriptedCollector(script={"21": fail_twice})
    service = TaskService(sessionmaker, settings, notifier, utc_now)
    pool = WorkerPool(sessionmaker, settings, collector, notifier, utc_now)
    await pool.start()
    try:
        outcome = await service.resolve("21", wait_seconds=30)
    finally:
        await pool.stop()
    assert outcome.kind == "ready"
    assert len(seen) == 3
    # attempt 1 → 2 waits ≥ 0.4 × 0.5, attempt 2 → 3 waits ≥ 0.8 × 0.5 (lower bounds only)
    assert seen[1] - seen[0] >= 0.2
    assert seen[2] - seen[1] >= 0.4


def test_backoff_grows_and_is_capped(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(retry_backoff_seconds=1.0, retry_backoff_max_seconds=5.0)
    pool = WorkerPool(None, settings, ScriptedCollector(), InProcessNotifier())  # type: ignore[arg-type]
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (10, 5.0)):
        delay = pool.backoff(attempt)
        assert ceiling * 0.5 <= delay <= ceiling
    off = WorkerPool(
        None, make_settings(retry_backoff_seconds=0), ScriptedCollector(), InProcessNotifier()
    )  # type: ignore[arg-type]
    assert off.backoff(3) == 0.0


async def test_idle_workers_share_one_fallback_poll(
    sessionmaker: Maker, notifier: InProcessNotifier, clock: FakeClock, make_settings: MakeSettings
) -> None:
    """Eight idle workers look for work about once per poll interval together (each used
    to look once per interval: eight times as often); a new task still wakes one at once."""
    poll = 0.2
    settings = make_settings(workers=8, worker_poll_seconds=poll)
    pool = WorkerPool(sessionmaker, settings, ScriptedCollector(), notifier, clock)
    looks: list[float] = []
    claim = pool.leases.claim

    async def counted(owner: str) -> object:
        looks.append(time.monotonic())
        return await claim(owner)

    pool.leases.claim = counted  # type: ignore[method-assign]  # counts, then the real claim
    await pool.start()
    try:
        await await_until(lambda: len(looks) >= 8, what="every worker's first look")
        started = time.monotonic()
        at_start = len(looks)
        await await_until(lambda: len(looks) >= at_start + 5, what="five polls", timeout=60)
        elapsed = time.monotonic() - started
        # one look per interval, plus the one under way (however slow the machine is)
        assert len(looks) - at_start <= elapsed / poll + 2
        service = TaskService(sessionmaker, settings, notifier, clock)
        outcome = await service.resolve("8", wait_seconds=60)
        assert outcome.kind == "ready"
    finally:
        await pool.stop()
