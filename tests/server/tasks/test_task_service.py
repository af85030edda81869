"""TaskService.resolve: coalescing, caching, failure, timeouts and event-driven waits.

Real SQLite file database, real WorkerPool and notifier; only the collector is a test
double of the Collector interface (it counts calls).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from jditem.server.settings import Settings
from jditem.server.shared.notify import InProcessNotifier
from jditem.server.store.tables import Task
from jditem.server.tasks import cache
from jditem.server.tasks.service import TaskService
from jditem.server.tasks.worker import WorkerPool
from tests.support.waiting import await_until

from .conftest import FakeClock, ScriptedCollector, always_fail, payload_for, unsupported

Maker = async_sessionmaker[AsyncSession]
MakeSettings = Callable[..., Settings]


@asynccontextmanager
async def running(pool: WorkerPool) -> AsyncIterator[WorkerPool]:
    await pool.start()
    try:
        yield pool
    finally:
        await pool.stop()


def attached(service: TaskService) -> int:
    """Callers waiting on a task right now (white-box: the service's shared watches)."""
    return sum(watch.waiters for watch in service._watches.values())


async def count_tasks(sm: Maker, item_id: str) -> int:
    async with sm() as session:
        stmt = select(func.count()).select_from(Task).where(Task.item_id == item_id)
        return int((await session.execute(stmt)).scalar_one())


@pytest.mark.parametrize("with_write_lock", [False, True], ids=["sqlite-locking", "write-lock"])
async def test_100_concurrent_callers_share_one_task_and_one_collection(
    sessionmaker: Maker,
    notifier: InProcessNotifier,
    clock: FakeClock,
    make_settings: MakeSettings,
    with_write_lock: bool,
) -> None:
    settings = make_settings(workers=4)
    collector = ScriptedCollector(delay=0.1)
    lock = asyncio.Lock() if with_write_lock else None
    service = TaskService(sessionmaker, settings, notifier, clock, write_lock=lock)
    pool = WorkerPool(sessionmaker, settings, collector, notifier, clock, write_lock=lock)
    async with running(pool):
        outcomes = await asyncio.gather(
            *(service.resolve("100012043978", wait_seconds=20) for _ in range(100))
        )
    assert collector.count("100012043978") == 1
    assert {o.kind for o in outcomes} == {"ready"}
    assert len({o.task_id for o in outcomes}) == 1
    assert all(o.payload == payload_for("100012043978") for o in outcomes)
    assert await count_tasks(sessionmaker, "100012043978") == 1
    # Later callers are answered from the cache, without a new collection.
    again = await service.resolve("100012043978", wait_seconds=20)
    assert again.kind == "ready"
    assert again.from_cache
    assert again.task_id == outcomes[0].task_id
    assert collector.count("100012043978") == 1


async def test_cache_ttl_with_injected_clock(
    sessionmaker: Maker, notifier: InProcessNotifier, clock: FakeClock, make_settings: MakeSettings
) -> None:
    settings = make_settings(result_ttl_seconds=3600)
    collector = ScriptedCollector()
    service = TaskService(sessionmaker, settings, notifier, clock)
    async with running(WorkerPool(sessionmaker, settings, collector, notifier, clock)):
        first = await service.resolve("1", wait_seconds=10)
        assert first.kind == "ready"
        assert not first.from_cache
        clock.advance(3599)
        cached = await service.resolve("1", wait_seconds=10)
        assert cached.kind == "ready"
        assert cached.from_cache
        assert cached.payload == first.payload
        clock.advance(2)  # past the TTL: a new task collects again
        fresh = await service.resolve("1", wait_seconds=10)
    assert fresh.kind == "ready"
    assert not fresh.from_cache
    assert fresh.task_id != first.task_id
    assert fresh.payload == payload_for("1", call_no=2)  # passed through unchanged
    assert collector.count("1") == 2


async def test_not_supported_uses_the_negative_ttl(
    sessionmaker: Maker, notifier: InProcessNotifier, clock: FakeClock, make_settings: MakeSettings
) -> None:
    settings = make_settings(result_ttl_seconds=3600, negative_ttl_seconds=600)
    collector = ScriptedCollector(script={"404": unsupported})
    service = TaskService(sessionmaker, settings, notifier, clock)
    async with running(WorkerPool(sessionmaker, settings, collector, notifier, clock)):
        first = await service.resolve("404", wait_seconds=10)
        assert first.kind == "not_supported"
        assert not first.from_cache
        assert first.error == "item 404 does not exist on JD"
        clock.advance(599)
        cached = await service.resolve("404", wait_seconds=10)
        assert cached.kind == "not_supported"
        assert cached.from_cache
        assert cached.error == "item 404 does not exist on JD"
        clock.advance(2)
        again = await service.resolve("404", wait_seconds=10)
    assert again.kind == "not_supported"
    assert not again.from_cache
    assert collector.count("404") == 2


async def test_max_attempts_failures_fail_every_waiter_then_a_new_task_starts(
    sessionmaker: Maker, notifier: InProcessNotifier, clock: FakeClock, make_settings: MakeSettings
) -> None:
    settings = make_settings(max_attempts=3)
    gate = asyncio.Event()
    collector = ScriptedCollector(script={"13": always_fail}, gate=gate)
    service = TaskService(sessionmaker, settings, notifier, clock)
    async with running(WorkerPool(sessionmaker, settings, collector, notifier, clock)):
        waiters = [asyncio.create_task(service.resolve("13", wait_seconds=60)) for _ in range(5)]
        await await_until(lambda: collector.calls, what="the first attempt ran")
        await await_until(lambda: attached(service) == 5, what="every caller attached")
        gate.set()
        outcomes = await asyncio.wait_for(asyncio.gather(*waiters), 60)
        assert {o.kind for o in outcomes} == {"failed"}
        assert len({o.task_id for o in outcomes}) == 1
        assert collector.count("13") == 3
        error = outcomes[0].error or ""
        assert "attempt 3 of 3" in error
        assert "upstream timeout" in error
        task = await service.get_task(outcomes[0].task_id or "")
        assert task is not None
        assert (task.status, task.attempt) == ("failed", 3)

        # A failed task is not cached: the next call creates a new task.
        collector.script.clear()
        retry = await service.resolve("13", wait_seconds=10)
    assert retry.kind == "ready"
    assert not retry.from_cache
    assert retry.task_id != outcomes[0].task_id
    assert await count_tasks(sessionmaker, "13") == 2


async def test_timeout_answers_pending_with_the_full_status(
    sessionmaker: Maker, notifier: InProcessNotifier, clock: FakeClock, make_settings: MakeSettings
) -> None:
    settings = make_settings(workers=0, retry_after_seconds=3, timezone="Asia/Shanghai")
    service = TaskService(sessionmaker, settings, notifier, clock)
    started = time.perf_counter()
    outcome = await service.resolve("100012043978", wait_seconds=0.2)
    elapsed = time.perf_counter() - started
    assert 0.15 <= elapsed < 30, "waited wait_seconds, then answered"
    assert outcome.kind == "pending"
    assert outcome.payload is None
    status = outcome.status
    assert status is not None
    assert set(status) == {"taskId", "itemId", "taskStatus", "submittedAt", "attempt", "retryAfter"}
    assert status["taskId"] == outcome.task_id
    assert re.fullmatch(r"t_[0-9A-Z]{26}", status["taskId"])
    assert status["itemId"] == "100012043978"
    assert status["taskStatus"] == "queued"
    assert status["attempt"] == 0
    assert status["retryAfter"] == 3
    # The fake clock is 2026-11-28T02:00:00Z → 10:00 in Shanghai, with its offset.
    assert status["submittedAt"] == "2026-11-28T10:00:00.000+08:00"

    # A later call attaches to the same task (never a second one), also with wait 0.
    again = await service.resolve("100012043978", wait_seconds=0)
    assert again.kind == "pending"
    assert again.task_id == outcome.task_id
    assert await count_tasks(sessionmaker, "100012043978") == 1


async def test_waiters_wake_on_the_event_not_by_polling(
    engine: AsyncEngine,
    sessionmaker: Maker,
    notifier: InProcessNotifier,
    clock: FakeClock,
    make_settings: MakeSettings,
) -> None:
    """50 waiters return after completion, with a handful of task reads in all.

    The backstop re-check and the waits are an hour long, so only the notification can
    wake them within the test's (generous) bound.
    """
    settings = make_settings(workers=1)
    gate = asyncio.Event()
    collector = ScriptedCollector(gate=gate)
    service = TaskService(sessionmaker, settings, notifier, clock, recheck_seconds=3600)
    task_reads: list[str] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # A waiter's read of its task, by id (the worker's own periodic sweeps and
        # claims also read the table; how many run meanwhile depends on the machine).
        if statement.lstrip().upper().startswith("SELECT") and "WHERE tasks.id = " in statement:
            task_reads.append(statement)

    async with running(WorkerPool(sessionmaker, settings, collector, notifier, clock)):
        waiters = [asyncio.create_task(service.resolve("55", wait_seconds=3600)) for _ in range(50)]
        await await_until(lambda: collector.calls, what="the worker holds the task")
        await await_until(lambda: attached(service) == 50, what="every waiter attached")
        event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
        try:
            gate.set()
            outcomes = await asyncio.wait_for(asyncio.gather(*waiters), 60)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", on_execute)
    assert {o.kind for o in outcomes} == {"ready"}
    # One shared watch reads the task once per notification; not once per waiter.
    assert 1 <= len(task_reads) <= 5, task_reads


async def test_submit_and_get_task(
    sessionmaker: Maker, notifier: InProcessNotifier, clock: FakeClock, make_settings: MakeSettings
) -> None:
    settings = make_settings(workers=0, max_attempts=4)
    service = TaskService(sessionmaker, settings, notifier, clock)
    task_id = await service.submit("321", job_id="j_1")
    assert await service.submit("321") == task_id  # attaches to the active task
    view = await service.get_task(task_id)
    assert view is not None
    assert (view.item_id, view.status, view.attempt, view.max_attempts, view.job_id) == (
        "321",
        "queued",
        0,
        4,
        "j_1",
    )
    assert view.submitted_at == clock()
    assert await service.get_task("t_missing") is None


async def test_submit_returns_the_task_of_a_fresh_cached_result(
    sessionmaker: Maker, notifier: InProcessNotifier, clock: FakeClock, make_settings: MakeSettings
) -> None:
    settings = make_settings()
    collector = ScriptedCollector()
    service = TaskService(sessionmaker, settings, notifier, clock)
    async with running(WorkerPool(sessionmaker, settings, collector, notifier, clock)):
        ready = await service.resolve("8", wait_seconds=10)
        assert await service.submit("8") == ready.task_id
    assert collector.count("8") == 1


async def test_resolve_with_wait_zero_on_a_finished_task_is_final(
    sessionmaker: Maker, notifier: InProcessNotifier, clock: FakeClock, make_settings: MakeSettings
) -> None:
    """Result TTL 0: the waiter still gets the payload of the task it attached to."""
    settings = make_settings(result_ttl_seconds=0)
    collector = ScriptedCollector()
    service = TaskService(sessionmaker, settings, notifier, clock)
    async with running(WorkerPool(sessionmaker, settings, collector, notifier, clock)):
        outcome = await service.resolve("99", wait_seconds=10)
    assert outcome.kind == "ready"
    assert outcome.payload == payload_for("99")
    assert outcome.status is not None
    assert outcome.status["taskStatus"] == "succeeded"


async def test_a_result_cached_after_the_checks_prevents_a_second_task(
    sessionmaker: Maker,
    notifier: InProcessNotifier,
    clock: FakeClock,
    make_settings: MakeSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The race behind a rare double collection: a caller saw no active task and no
    cached result, then the task finished before the caller's INSERT. The INSERT itself
    re-checks the cache, so it inserts nothing and the caller answers from the cache.

    The stale reads are simulated by hiding the cached row from the first two reads.
    """
    settings = make_settings(workers=0)
    service = TaskService(sessionmaker, settings, notifier, clock)
    async with sessionmaker() as session:
        await cache.store(
            session,
            item_id="31",
            status="ok",
            payload=payload_for("31"),
            task_id="t_finished",
            now=clock(),
            ttl_seconds=60,
        )
        await session.commit()
    real_read_fresh = cache.read_fresh
    hidden = {"reads": 0}

    async def stale_then_real(session: AsyncSession, item_id: str, now: Any, after: Any) -> Any:
        hidden["reads"] += 1
        if hidden["reads"] <= 2:
            return None
        return await real_read_fresh(session, item_id, now, after)

    monkeypatch.setattr(cache, "read_fresh", stale_then_real)
    outcome = await service.resolve("31", wait_seconds=0)
    assert outcome.kind == "ready"
    assert outcome.from_cache
    assert outcome.task_id == "t_finished"
    assert await count_tasks(sessionmaker, "31") == 0
