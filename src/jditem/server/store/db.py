"""Async engine, session factory and migrations at start; the store strategy.

``Database`` bundles what the request path needs from the store: the engine, the
session factory and the way group commits are written. :meth:`Database.from_url` is
the ONE place that chooses the strategy for a backend:

* **SQLite** (embedded profile): an in-process write lock and, on a file, the
  :class:`~jditem.server.store.writer.SyncWriter` used by the group commits of the hot
  path (its thread; the charge batches on the event loop's thread). SQLite allows one
  writer at a time; taking the lock before a short write transaction keeps the writers
  of this process from contending inside SQLite (whose busy handler sleeps in
  millisecond steps).
* **PostgreSQL** (scale-out profile): no lock (row locks and conditional updates do
  the work, across processes); a group commit runs the same Core batch function on a
  pooled async connection through ``run_sync`` — one transaction per batch.

Callers ask :attr:`Database.batches_writes` / :meth:`Database.write_batch` /
:meth:`Database.writing`, never which backend they are on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
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

from jditem.server.store import event_tables as event_tables  # registers its tables on Base
from jditem.server.store import postgres, sqlite
from jditem.server.store import watch_tables as watch_tables  # registers its tables on Base
from jditem.server.store import webhook_tables as webhook_tables  # registers its tables
from jditem.server.store.held import HeldConnection
from jditem.server.store.urls import check_driver
from jditem.server.store.writer import SyncWriter

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

#: The newest Alembic revision shipped with this version.
HEAD_REVISION = "head"


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url`` with the backend's connection setup installed.

    Raises :class:`~jditem.server.store.urls.DatabaseUrlError` (one line naming the
    extra to install) when the backend's driver is missing.
    """
    check_driver(url)
    sqlite.prepare_file(url)
    options: dict[str, Any] = {"pool_pre_ping": False}
    if postgres.is_postgres(url):
        options.update(postgres.engine_options())
    engine = create_async_engine(url, **options)
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
    postgres.lock_for_migrations(connection)  # many processes may start at once
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def migrate(engine: AsyncEngine, revision: str = HEAD_REVISION) -> None:
    """Apply the Alembic migrations up to ``revision`` on ``engine`` (idempotent)."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)


@dataclass
class Database:
    """The engine, its session factory and the backend's write strategy."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    #: SQLite only: the in-process write lock (None on PostgreSQL: no lock needed).
    write_lock: asyncio.Lock | None = None
    #: File-backed SQLite only: the writer thread of the group commits (else None).
    writer: SyncWriter | None = None
    #: PostgreSQL only: the charge group commits' own connection (no pre-ping per batch).
    held: HeldConnection | None = None

    @classmethod
    def from_url(cls, url: str) -> Database:
        """The database for ``url`` with its backend's strategy (nothing connects yet)."""
        engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            return cls(
                engine=engine,
                sessionmaker=create_sessionmaker(engine),
                write_lock=asyncio.Lock(),
                writer=SyncWriter.for_url(url),
            )
        return cls(
            engine=engine, sessionmaker=create_sessionmaker(engine), held=HeldConnection(engine)
        )

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql`` (for messages and health; not for branching)."""
        return self.engine.dialect.name

    @property
    def batches_writes(self) -> bool:
        """True when grouping concurrent writes in one :meth:`write_batch` pays off (a
        SQLite file's writer thread, PostgreSQL); not for an in-memory SQLite."""
        return self.writer is not None or self.engine.dialect.name != "sqlite"

    def _gate(self) -> contextlib.AbstractAsyncContextManager[Any]:
        lock = self.write_lock
        return lock if lock is not None else contextlib.nullcontext()

    async def write_batch(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` in one transaction on a synchronous ``Connection``.

        A SQLite file: in the writer thread, holding the write lock. PostgreSQL: on a
        pooled async connection through ``run_sync`` (no lock); an in-memory SQLite the
        same way, holding the write lock. Commits when ``fn`` returns, rolls back when
        it raises.
        """
        writer = self.writer
        async with self._gate():
            if writer is not None:
                return await writer.run(fn, *args)
            async with self.engine.begin() as connection:
                return await connection.run_sync(fn, *args)

    async def write_charges(self, fn: Callable[..., T], *args: Any) -> T:
        """:meth:`write_batch` for the charge batcher, one batch at a time: on PostgreSQL
        on a connection it keeps (:class:`~jditem.server.store.held.HeldConnection`); on
        a SQLite file on the event loop's thread (:meth:`.SyncWriter.run_inline`)."""
        if self.held is not None:
            return await self.held.run(fn, *args)
        writer = self.writer
        if writer is not None:
            async with self._gate():
                return await writer.run_inline(fn, *args)
        return await self.write_batch(fn, *args)

    @property
    def writes_on_driver(self) -> bool:
        """True when :meth:`write_on_driver` is available (PostgreSQL's held connection)."""
        return self.held is not None

    async def write_on_driver(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await fn(driver_connection, *args)`` on the charge batcher's connection,
        each statement its own transaction (:meth:`.HeldConnection.run_driver`)."""
        if self.held is None:
            raise RuntimeError("write_on_driver needs PostgreSQL's held connection")
        return await self.held.run_driver(fn, *args)

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session inside one write transaction (holding the write lock on SQLite).

        Commits on normal exit, rolls back on an exception. Keep the body short and
        free of waits on other work: everyone else's writes queue behind it.
        """
        async with self._gate(), self.sessionmaker() as session, session.begin():
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
        if self.held is not None:
            await self.held.close()
        await self.engine.dispose()
