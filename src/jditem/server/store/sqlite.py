"""SQLite-only connection setup: the ONE module allowed SQLite-specific SQL.

Every other module uses portable SQLAlchemy constructs; this one configures each new
SQLite connection (WAL journal, busy timeout, foreign keys, relaxed fsync) so that the
in-process workers, the request path and the console can share one database file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from jditem.private_files import SQLITE_COMPANIONS, private_file

#: How long a connection waits for another writer before failing with "database is locked".
BUSY_TIMEOUT_MS = 10_000

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def configure_engine(engine: AsyncEngine) -> None:
    """Install the per-connection pragmas on ``engine`` (a no-op for other backends)."""
    if engine.dialect.name != "sqlite":
        return
    event.listen(engine.sync_engine, "connect", _on_connect)


def prepare_file(url: str) -> None:
    """For a file-backed SQLite ``url``: its folder (0700 when created) and the file,
    readable by its owner only (0600, also an existing one, and its ``-wal``/``-shm``):
    it holds password and token hashes and customers' call records."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        private_file(Path(database).expanduser(), SQLITE_COMPANIONS)


def sync_url(url: str) -> str | None:
    """The synchronous (pysqlite) URL of a file-backed SQLite ``url``, else ``None``."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return parsed.set(drivername="sqlite").render_as_string(hide_password=False)


#: The pragmas of the event loop's own writer connection (:meth:`.SyncWriter.run_inline`):
#: never wait for another process's write lock (the caller falls back to the writer
#: thread, which waits), and never checkpoint on commit (a checkpoint fsyncs; the writer
#: thread runs them instead, :func:`checkpoint`).
_INLINE_PRAGMAS = ("PRAGMA busy_timeout=0", "PRAGMA wal_autocheckpoint=0")


def configure_inline(dbapi_connection: Any) -> None:
    """Set the inline writer's pragmas on a pysqlite connection (outside a transaction)."""
    for pragma in _INLINE_PRAGMAS:
        dbapi_connection.execute(pragma)


def checkpoint(dbapi_connection: Any) -> None:
    """A passive WAL checkpoint: copies what it can without waiting for readers or
    writers (on a pysqlite connection outside a transaction)."""
    dbapi_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def is_busy(error: BaseException) -> bool:
    """True when ``error`` (a SQLAlchemy or pysqlite error) is SQLITE_BUSY or one of
    its extended codes: another connection holds the lock."""
    name = getattr(getattr(error, "orig", error), "sqlite_errorname", None)
    return isinstance(name, str) and name.startswith("SQLITE_BUSY")


def _on_connect_immediate(dbapi_connection: Any, record: Any) -> None:
    _on_connect(dbapi_connection, record)
    # Let SQLAlchemy, not pysqlite, emit BEGIN (pysqlite's legacy mode begins lazily,
    # before the first INSERT/UPDATE only, so a SELECT would run outside the transaction).
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_sync_engine(url: str) -> Engine:
    """A synchronous engine on the same SQLite file, with the same connection pragmas.

    Its transactions start with ``BEGIN IMMEDIATE``: the write lock is taken at BEGIN,
    so what a transaction reads cannot change under it before it writes (the group
    commits of :mod:`jditem.server.store.writer` plan from such reads). This is
    SQLAlchemy's documented recipe for pysqlite transactions.
    """
    engine = sa_create_engine(url)
    event.listen(engine, "connect", _on_connect_immediate)
    event.listen(engine, "begin", _begin_immediate)
    return engine
