"""The PostgreSQL store (scale-out profile): migrations, the write strategy, claims."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text
from tests.support.postgres import PgCluster

from jditem.server.store.db import Database, migrate
from jditem.server.store.tables import Base


async def test_migrations_reach_the_models_and_many_processes_may_start_at_once(
    pg_cluster: PgCluster,
) -> None:
    name = pg_cluster.create_database("mig")
    dbs = [Database.from_url(pg_cluster.url(name)) for _ in range(3)]
    try:
        # three "processes" start together on an empty database: the advisory lock
        # lets one migrate, the others find the schema at head
        await asyncio.gather(*(migrate(db.engine) for db in dbs))

        def diff(conn: Connection) -> list[object]:
            return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))

        async with dbs[0].engine.connect() as conn:
            assert await conn.run_sync(diff) == []
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        assert len(version) == 1
    finally:
        for db in dbs:
            await db.dispose()
        pg_cluster.drop_database(name)


async def test_the_postgres_strategy_batches_without_a_process_lock(
    pg_cluster: PgCluster,
) -> None:
    name = pg_cluster.create_database("strat")
    db = Database.from_url(pg_cluster.url(name))
    try:
        assert db.backend == "postgresql"
        assert db.write_lock is None
        assert db.writer is None
        assert db.batches_writes

        def in_one_transaction(conn: Connection, n: int) -> int:
            conn.execute(text("CREATE TABLE IF NOT EXISTS t (v int)"))
            conn.execute(text("INSERT INTO t VALUES (:v)"), [{"v": i} for i in range(n)])
            return int(conn.execute(text("SELECT count(*) FROM t")).scalar_one())

        assert await db.write_batch(in_one_transaction, 5) == 5

        def fails(conn: Connection) -> None:
            conn.execute(text("INSERT INTO t VALUES (99)"))
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await db.write_batch(fails)
        async with db.reading() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 5
    finally:
        await db.dispose()
        pg_cluster.drop_database(name)


async def test_charge_batches_keep_one_connection_and_survive_losing_it(
    pg_cluster: PgCluster,
) -> None:
    """The charge group commits run on one held connection (no pool checkout, so no
    pre-ping, per batch); a connection lost between batches is replaced and the batch
    applied exactly once."""
    name = pg_cluster.create_database("held")
    db = Database.from_url(pg_cluster.url(name))
    try:
        await db.write_batch(lambda conn: conn.execute(text("CREATE TABLE t (v int)")))

        def insert(conn: Connection, v: int) -> int:
            conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": v})
            return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())

        first = await db.write_charges(insert, 1)
        assert await db.write_charges(insert, 2) == first

        def fails(conn: Connection) -> None:
            conn.execute(text("INSERT INTO t VALUES (99)"))
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await db.write_charges(fails)
        assert await db.write_charges(insert, 3) == first  # rolled back, still held

        def terminate(conn: Connection, pid: int) -> None:
            # waits (up to 30 s) until the backend has ended, so the next batch meets it gone
            conn.execute(text("SELECT pg_terminate_backend(:p, 30000)"), {"p": pid})

        await db.write_batch(terminate, first)
        replaced = await db.write_charges(insert, 4)
        assert replaced != first
        async with db.reading() as session:
            rows = (await session.execute(text("SELECT v FROM t ORDER BY v"))).scalars().all()
        assert rows == [1, 2, 3, 4]
    finally:
        await db.dispose()
        pg_cluster.drop_database(name)
