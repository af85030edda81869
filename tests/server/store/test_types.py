"""UtcDateTime: stored times and query bounds are UTC whatever zone a value is in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from tests.support.postgres import PgCluster

from jditem.server.store.types import UtcDateTime

SHANGHAI = ZoneInfo("Asia/Shanghai")
META = MetaData()
T = Table("t", META, Column("id", Integer, primary_key=True), Column("at", UtcDateTime()))
#: 20:30 UTC is already the next day in Shanghai: the case a local bound got wrong
STORED = datetime(2026, 12, 6, 20, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'types.db'}"
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    name = cluster.create_database("types")
    try:
        yield cluster.url(name)
    finally:
        cluster.drop_database(name)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(META.create_all)
    yield engine
    await engine.dispose()


async def test_values_in_any_zone_are_stored_as_utc_and_read_back_aware(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        await conn.execute(T.insert(), [{"id": 1, "at": STORED.astimezone(SHANGHAI)}])
        naive = STORED.replace(tzinfo=None)  # taken as UTC
        await conn.execute(T.insert(), [{"id": 2, "at": naive}])
        read = (await conn.execute(select(T.c.at).order_by(T.c.id))).scalars().all()
        if engine.dialect.name == "sqlite":  # the stored text is the UTC wall clock
            raw = (await conn.execute(text("SELECT at FROM t ORDER BY id"))).scalars().all()
            assert raw == ["2026-12-06 20:30:00.000000"] * 2
    assert read == [STORED, STORED]
    assert all(value.utcoffset() == timedelta(0) for value in read)


async def test_a_bound_in_another_zone_compares_as_the_same_instant(engine: AsyncEngine) -> None:
    local_midnight = datetime(2026, 12, 7, tzinfo=SHANGHAI)  # = 2026-12-06 16:00 UTC
    async with engine.begin() as conn:
        await conn.execute(T.insert(), [{"id": 1, "at": STORED}])
        since = (await conn.execute(select(func.count()).where(T.c.at >= local_midnight))).scalar()
        before = (await conn.execute(select(func.count()).where(T.c.at < local_midnight))).scalar()
    assert (since, before) == (1, 0)
