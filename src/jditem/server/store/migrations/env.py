"""Alembic environment for the jditem server schema.

Used two ways: by :func:`jditem.server.store.db.migrate` at app start, which passes an
open connection in ``config.attributes["connection"]``; and from the command line with
``alembic -x url=sqlite+aiosqlite:///server.db ...`` (or ``sqlalchemy.url``) for
developers writing a new revision.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from jditem.server.store import event_tables as event_tables  # registers its tables
from jditem.server.store import watch_tables as watch_tables  # registers its tables
from jditem.server.store.tables import Base

target_metadata = Base.metadata
config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_url(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    """Migrate through the given connection, or one made from the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("No database URL: pass -x url=sqlite+aiosqlite:///path/to/server.db")
    asyncio.run(_run_from_url(url))


def run_migrations_offline() -> None:
    """Emit SQL for the configured URL without connecting."""
    url = config.get_main_option("sqlalchemy.url") or "sqlite://"
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
