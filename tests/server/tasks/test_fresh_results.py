"""The in-memory copy of fresh results: TTL by the injected clock, LRU bound, payload
serialized once, and TaskService keeping it filled from the ``results`` table."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import JSONResponse

from jditem.server.settings import Settings
from jditem.server.shared.notify import InProcessNotifier
from jditem.server.store.tables import CachedResult
from jditem.server.tasks import cache
from jditem.server.tasks.cache import FreshResults, dumps_payload
from jditem.server.tasks.service import TaskService
from jditem.server.tasks.worker import WorkerPool

from .conftest import FakeClock, ScriptedCollector, payload_for, unsupported

Maker = async_sessionmaker[AsyncSession]


def _row(item_id: str, clock: FakeClock, ttl: float, status: str = "ok") -> CachedResult:
    now = clock()
    payload = payload_for(item_id) if status == "ok" else {"reason": "gone"}
    return CachedResult(
        item_id=item_id,
        status=status,
        payload=payload,
        task_id=f"t_{item_id}",
        fetched_at=now,
        expires_at=now + timedelta(seconds=ttl),
    )


def test_entries_expire_with_the_clock(clock: FakeClock) -> None:
    fresh = FreshResults()
    assert fresh.remember(_row("1", clock, 60), clock()) is not None
    clock.advance(59)
    assert fresh.get("1", clock()) is not None
    clock.advance(1)  # expires_at reached: no longer fresh
    assert fresh.get("1", clock()) is None
    assert len(fresh) == 0
    assert fresh.remember(_row("2", clock, 0), clock()) is None  # already expired


def test_the_least_recently_used_entry_goes_first(clock: FakeClock) -> None:
    fresh = FreshResults(max_items=2)
    for item in ("1", "2"):
        fresh.remember(_row(item, clock, 60), clock())
    assert fresh.get("1", clock()) is not None  # "2" is now the least recently used
    fresh.remember(_row("3", clock, 60), clock())
    assert fresh.get("2", clock()) is None
    assert fresh.get("1", clock()) is not None
    assert fresh.get("3", clock()) is not None
    assert FreshResults(max_items=0).remember(_row("1", clock, 60), clock()) is None


def test_the_payload_is_serialized_once_like_jsonresponse(clock: FakeClock) -> None:
    fresh = FreshResults()
    row = _row("1", clock, 60)
    row.payload = {"title": "洁面乳 «two»", "price": 6.5, "n": [1, None, True]}
    first = fresh.remember(row, clock())
    assert first is not None
    assert first.payload_json == JSONResponse(row.payload).body
    assert json.loads(first.payload_json or b"") == row.payload
    assert fresh.remember(row, clock()) is first  # same row: the bytes are reused
    negative = fresh.remember(_row("2", clock, 60, status="not_supported"), clock())
    assert negative is not None
    assert negative.payload_json is None
    assert negative.reason == "gone"
    assert dumps_payload(None) == b"null"


async def test_resolve_fills_the_copy_and_then_reads_no_database(
    sessionmaker: Maker,
    notifier: InProcessNotifier,
    clock: FakeClock,
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(result_ttl_seconds=3600, negative_ttl_seconds=600)
    collector = ScriptedCollector(script={"404": unsupported})
    service = TaskService(sessionmaker, settings, notifier, clock)
    pool = WorkerPool(sessionmaker, settings, collector, notifier, clock)
    await pool.start()
    try:
        first = await service.resolve("7", wait_seconds=10)  # collected, then remembered
        missing = await service.resolve("404", wait_seconds=10)
    finally:
        await pool.stop()
    assert first.kind == "ready"
    assert missing.kind == "not_supported"
    hit = service.fresh_result("7")
    assert hit is not None
    assert hit.payload == first.payload
    assert hit.task_id == first.task_id
    assert service.fresh_result("404") is None  # not read back yet: the table has it
    again = await service.resolve("404", wait_seconds=0)
    assert again.kind == "not_supported"
    assert again.from_cache
    assert service.fresh_result("404") is not None
    # A fresh entry answers without the database (the workers are stopped, and a read
    # of the table would still find the row: delete it to prove nobody reads it).
    async with sessionmaker() as session:
        await session.execute(CachedResult.__table__.delete())
        await session.commit()
    cached = await service.resolve("7", wait_seconds=0)
    assert cached.kind == "ready"
    assert cached.from_cache
    # the admission's look (no database): one outcome per fresh result, reused
    outcome = service.cached("7")
    assert outcome is not None
    assert (outcome.kind, outcome.payload, outcome.task_id) == ("ready", hit.payload, hit.task_id)
    assert outcome.body == hit.payload_json
    assert service.cached("7") is outcome
    clock.advance(3600)  # past the TTL: the copy is gone and nothing is cached any more
    assert service.fresh_result("7") is None
    assert service.cached("7") is None
    pending = await service.resolve("7", wait_seconds=0)
    assert pending.kind == "pending"
    async with sessionmaker() as session:
        rows = await session.scalar(select(func.count()).select_from(CachedResult))
    assert rows == 0


async def test_a_row_read_from_the_table_is_remembered(
    sessionmaker: Maker,
    notifier: InProcessNotifier,
    clock: FakeClock,
    make_settings: Callable[..., Settings],
) -> None:
    service = TaskService(sessionmaker, make_settings(workers=0), notifier, clock)
    async with sessionmaker() as session:
        await cache.store(
            session,
            item_id="9",
            status="ok",
            payload=payload_for("9"),
            task_id="t_nine",
            now=clock(),
            ttl_seconds=60,
        )
        await session.commit()
    assert service.fresh_result("9") is None
    assert await service.submit("9") == "t_nine"
    hit = service.fresh_result("9")
    assert hit is not None
    assert hit.payload_json == dumps_payload(payload_for("9"))
