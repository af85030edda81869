"""One writer thread on a synchronous SQLite connection, for the group commits.

The request path's writes that happen all the time (charges with their quota counts,
buffered call records) are applied in batches by :class:`SyncWriter`: a function gets
a synchronous SQLAlchemy ``Connection`` inside one ``BEGIN IMMEDIATE`` transaction and
runs in a dedicated thread, so a whole batch costs one round trip between the event
loop and that thread and one commit. aiosqlite would instead hop between the loop and
its thread for every statement, cursor and fetch. The charge batches skip even that
round trip: :meth:`SyncWriter.run_inline` runs them on the event loop's own thread
(falling back to the thread when another process holds the write lock).

Only for file-backed SQLite (:func:`SyncWriter.for_url` answers ``None`` otherwise);
callers keep an async fallback for other databases.

:class:`Prepared` runs the batches' statements: each is a portable SQLAlchemy Core
statement, compiled once for the connection's dialect and executed on the DBAPI cursor
with the same bind processors SQLAlchemy would apply. Executing a compiled-and-cached
statement through SQLAlchemy still costs tens of microseconds of Python per statement
(execution context, result wrapping); on the DBAPI cursor (whose driver caches the
prepared statement) it costs a few, and this thread shares the GIL with the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from operator import itemgetter
from typing import Any, NamedTuple, TypeGuard, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.base import Executable

from jditem.server.store import sqlite

T = TypeVar("T")

#: Inline commits (:meth:`SyncWriter.run_inline`) between two checkpoints: a charge
#: batch appends some 15-25 pages to the WAL, so about SQLite's own autocheckpoint
#: (1,000 pages).
CHECKPOINT_EVERY = 64

log = logging.getLogger("jditem.server.store.writer")


class SyncWriter:
    """A single-thread executor with its own synchronous engine (see the module docstring).

    The thread keeps one connection open between batches (a pool checkout and reset per
    transaction would cost more than the statements of a small batch).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._executor: ThreadPoolExecutor | None = None
        self._connection: Connection | None = None  # used by the writer thread only
        self._inline: Connection | None = None  # used by the event loop's thread only
        self._inline_commits = 0  # since the last checkpoint
        self._checkpoint: Future[None] | None = None

    @classmethod
    def for_url(cls, url: str) -> SyncWriter | None:
        """A writer for a file-backed SQLite ``url`` (any driver), else ``None``."""
        sync = sqlite.sync_url(url)
        return cls(sqlite.create_sync_engine(sync)) if sync else None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` in the writer thread, inside one transaction.

        Commits when ``fn`` returns, rolls back when it raises (the exception is
        re-raised here). The caller holds the database's write lock.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread(), self._in_transaction, fn, args)

    async def run_inline(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` in one transaction on the calling (event loop's)
        thread, on a connection of its own; else, when another process holds SQLite's
        write lock, in the writer thread (:meth:`run`, which waits for it).

        For the charge batches: a batch costs the loop the batch's statements and a
        WAL append (WAL with ``synchronous=NORMAL``: no fsync at commit), and costs no
        hand-off to the writer thread — those hand-offs (the GIL and the charge's
        futures crossing cores) cost more CPU than the statements. The connection never
        waits for a lock and never checkpoints at commit (a checkpoint fsyncs): every
        :data:`CHECKPOINT_EVERY` commits the writer thread runs a passive checkpoint.
        The caller holds the database's write lock.
        """
        connection = self._inline
        if not _usable(connection):
            connection = self._inline = self._engine.connect()
            sqlite.configure_inline(connection.connection.driver_connection)
        try:
            transaction = connection.begin()
        except OperationalError as exc:
            if not sqlite.is_busy(exc):
                raise
            return await self.run(fn, *args)
        with transaction:
            result = fn(connection, *args)
        self._inline_commits += 1
        if self._inline_commits >= CHECKPOINT_EVERY and (
            self._checkpoint is None or self._checkpoint.done()
        ):
            self._inline_commits = 0
            self._checkpoint = self._thread().submit(self._run_checkpoint)
        return result

    def _thread(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jditem-writer")
        return self._executor

    def _run_checkpoint(self) -> None:
        """A passive checkpoint of the WAL the inline commits wrote (writer thread)."""
        try:
            sqlite.checkpoint(self._thread_connection().connection.driver_connection)
        except Exception:  # the next one (or SQLite's own on another connection) catches up
            log.warning("WAL checkpoint failed", exc_info=True)

    def _thread_connection(self) -> Connection:
        connection = self._connection
        if not _usable(connection):
            connection = self._connection = self._engine.connect()
        return connection

    def _in_transaction(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        connection = self._thread_connection()
        with connection.begin():
            return fn(connection, *args)

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def close(self) -> None:
        """Close the inline connection, wait for the thread's work, close its connection,
        and stop the thread (call on the event loop's thread)."""
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        if self._executor is not None:
            self._executor.submit(self._close_connection).result()
            self._executor.shutdown(wait=True)
            self._executor = None
        self._engine.dispose()


def _usable(connection: Connection | None) -> TypeGuard[Connection]:
    """True when ``connection`` is open and valid (else a new one is needed)."""
    return connection is not None and not connection.closed and not connection.invalidated


class _Compiled(NamedTuple):
    """A statement compiled for one dialect: its SQL, a function picking its parameters
    in order from a mapping, and the bind processors of the positions that have one."""

    sql: str
    getter: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]


def _getter(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """``lambda params: tuple(params[name] for name in names)``, done by ``itemgetter``."""
    if len(names) > 1:
        return itemgetter(*names)
    if names:
        name = names[0]
        return lambda params: (params[name],)
    return lambda params: ()


class Prepared:
    """A Core statement compiled once per dialect, executed on the DBAPI cursor.

    Parameters are given by bind name (``bindparam`` names; column names for an
    ``insert(table)`` compiled with ``column_keys``) and pass through the bind
    processors of their types, so values are stored exactly as SQLAlchemy stores them.
    Needs a positional paramstyle (pysqlite's ``qmark``).
    """

    def __init__(self, statement: Executable, column_keys: Sequence[str] | None = None) -> None:
        self._statement = statement
        self._column_keys = list(column_keys) if column_keys is not None else None
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        key = f"{dialect.name}:{dialect.driver}:{dialect.paramstyle}"
        found = self._compiled.get(key)
        if found is None:
            compiled = self._statement.compile(  # type: ignore[attr-defined]
                dialect=dialect, column_keys=self._column_keys
            )
            if compiled.positiontup is None:
                raise ValueError(f"{dialect.name} uses named parameters; Prepared needs positional")
            names = tuple(compiled.positiontup)
            processes = [
                compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
                for name in names
            ]
            processors = tuple(
                (index, process) for index, process in enumerate(processes) if process is not None
            )
            found = self._compiled[key] = _Compiled(compiled.string, _getter(names), processors)
        return found

    @staticmethod
    def _args(compiled: _Compiled, params: Mapping[str, Any]) -> tuple[Any, ...]:
        values = compiled.getter(params)
        if not compiled.processors:
            return values
        processed = list(values)
        for index, process in compiled.processors:
            processed[index] = process(processed[index])
        return tuple(processed)

    def execute(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        """Execute with ``params``; returns the DBAPI cursor (``rowcount``, ``fetchall``)."""
        compiled = self._for(connection.dialect)
        cursor = connection.connection.cursor()
        cursor.execute(compiled.sql, self._args(compiled, params))
        return cursor

    def rowcount(self, connection: Connection, params: Mapping[str, Any]) -> int:
        """Execute (an UPDATE) and return the number of rows it matched."""
        cursor = self.execute(connection, params)
        count = int(cursor.rowcount)
        cursor.close()
        return count

    def rows(self, connection: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Execute (a SELECT) and return all rows."""
        cursor = self.execute(connection, params)
        rows = list(cursor.fetchall())
        cursor.close()
        return rows

    def executemany(self, connection: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        """Execute once per parameter set (one driver call)."""
        compiled = self._for(connection.dialect)
        cursor = connection.connection.cursor()
        cursor.executemany(compiled.sql, [self._args(compiled, row) for row in rows])
        cursor.close()
