"""Alembic: ``0001_initial`` is the base, and migrating to head yields exactly tables.py."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from jditem.server.store.db import Database, alembic_config, migrate
from jditem.server.store.tables import Base


def test_initial_revision_is_the_base() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert list(script.get_bases()) == ["0001_initial"]


async def test_head_matches_the_models_and_is_idempotent(tmp_path: Path) -> None:
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        await migrate(db.engine)
        await migrate(db.engine)  # second start: nothing to do

        def diff(conn: Connection) -> list[object]:
            return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))

        def pragmas(conn: Connection) -> tuple[object, ...]:
            return (
                conn.exec_driver_sql("PRAGMA journal_mode").scalar(),
                conn.exec_driver_sql("PRAGMA foreign_keys").scalar(),
                conn.exec_driver_sql("PRAGMA busy_timeout").scalar(),
                sorted(inspect(conn).get_table_names()),
            )

        async with db.engine.connect() as conn:
            assert await conn.run_sync(diff) == []
            mode, fks, busy, tables = await conn.run_sync(pragmas)
        assert (mode, fks) == ("wal", 1)
        assert int(busy) > 0  # type: ignore[call-overload]
        assert "alembic_version" in tables
    finally:
        await db.dispose()
