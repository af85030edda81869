"""Migration 0002_console_jobs matches the table definitions and downgrades cleanly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from jditem.server.store.db import Database, alembic_config, migrate
from jditem.server.store.tables import Base


def _diff(connection: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def _downgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, "0001_initial")


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_matches_models_and_downgrade_removes_tables(tmp_path: Path) -> None:
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        await migrate(db.engine)
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            assert {"bulk_jobs", "bulk_job_items"} <= await conn.run_sync(_tables)
        async with db.engine.begin() as conn:
            await conn.run_sync(_downgrade)
        async with db.engine.connect() as conn:
            assert not {"bulk_jobs", "bulk_job_items"} & await conn.run_sync(_tables)
        await migrate(db.engine)
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await db.dispose()
