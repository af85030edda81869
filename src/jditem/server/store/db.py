"""Async engine, session factory and migrations at start.

``Database`` bundles what the request path needs from the store: the engine, the
session factory, an in-process write lock and, on file-backed SQLite, the
:class:`~jditem.server.store.writer.SyncWriter` used by the group commits of the hot
path. SQLite allows one writer at a time; taking the lock before a short write
transaction keeps the writers of this process from contending inside SQLite (whose
busy handler sleeps in millisecond steps).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from jditem.server.store import sqlite
from jditem.server.store.writer import SyncWriter

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

#: The newest Alembic revision shipped with this version.
HEAD_REVISION = "head"


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url`` with the backend's connection setup installed."""
    sqlite.ensure_parent_dir(url)
    engine = create_async_engine(url, pool_pre_ping=False)
    sqlite.configure_engine(engine)
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    """An Alembic config pointing at the bundled migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def migrate(engine: AsyncEngine, revision: str = HEAD_REVISION) -> None:
    """Apply the Alembic migrations up to ``revision`` on ``engine`` (idempotent)."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)


@dataclass
class Database:
    """The engine, its session factory, the in-process write lock and the sync writer."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: File-backed SQLite only: the writer thread of the group commits (else None).
    writer: SyncWriter | None = None

    @classmethod
    def from_url(cls, url: str) -> Database:
        """A database for ``url`` (nothing is connected until first use)."""
        engine = create_engine(url)
        return cls(
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            writer=SyncWriter.for_url(url),
        )

    async def write_batch(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` in one transaction in the writer thread, holding the
        write lock. Only when :attr:`writer` is set (file-backed SQLite)."""
        writer = self.writer
        if writer is None:
            raise RuntimeError(
                "write_batch needs a file-backed SQLite database (no writer thread here); "
                "use Database.writing() instead"
            )
        async with self.write_lock:
            return await writer.run(fn, *args)

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session inside one write transaction, holding the write lock.

        Commits on normal exit, rolls back on an exception. Keep the body short and
        free of waits on other work: everyone else's writes queue behind it.
        """
        async with self.write_lock, self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for reads (no lock; SQLite WAL readers never block writers)."""
        async with self.sessionmaker() as session:
            yield session

    async def dispose(self) -> None:
        """Close every pooled connection (and stop the writer thread)."""
        if self.writer is not None:
            self.writer.close()
        await self.engine.dispose()
