"""One long-lived connection for the charge group commits on PostgreSQL.

The pool checks every connection it hands out with a pre-ping (``BEGIN``; ``;``;
``ROLLBACK``: three round trips), which is a quarter of a charge group commit's round
trips. The charge batcher applies one batch at a time, so it keeps one connection of its
own instead, as the SQLite writer thread does, and checks it out of the pool (with its
pre-ping) only once, and again after the connection was lost.

A lost connection is noticed by the statement that uses it. If that happens *before*
the commit was sent, nothing was committed (PostgreSQL rolls back the transaction of a
connection that ends), so the batch is applied once more on a fresh connection. If it
happens at the commit, whether the batch committed is unknown: the error is raised, as
any failed write is.

:meth:`HeldConnection.run_driver` runs one statement on the driver's own connection
instead (a statement outside a transaction block is its own transaction): a connection
found lost before it is replaced (nothing was sent), and one lost while it runs raises
:class:`ConnectionLostError` — the caller reads back whether it committed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T = TypeVar("T")


class HeldConnection:
    """A connection of ``engine`` held between transactions, one transaction at a time."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._lock = asyncio.Lock()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` in one transaction; commits when it returns, rolls
        back when it raises. Applied once more on a new connection when the held one
        turns out lost before the commit (see the module docstring)."""
        async with self._lock:
            try:
                return await self._once(fn, args)
            except _LostBeforeCommit as lost:
                try:
                    return await self._once(fn, args)
                except _LostBeforeCommit as again:
                    raise again.error from lost.error

    async def run_driver(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await fn(driver_connection, *args)`` outside any transaction block (each
        statement ``fn`` sends is its own transaction). Raises
        :class:`ConnectionLostError` when the connection was lost meanwhile."""
        async with self._lock:
            driver = await self._driver()
            try:
                return await fn(driver, *args)
            except Exception as exc:
                if not driver.is_closed():
                    raise
                await self._drop()
                raise ConnectionLostError(
                    "the database connection was lost during a charge statement"
                ) from exc

    async def _driver(self) -> Any:
        """The held connection's driver connection, replaced when found lost (idle)."""
        for _ in range(2):
            if self._connection is None:
                self._connection = await self._engine.connect()
            raw = await self._connection.get_raw_connection()
            driver = raw.driver_connection
            if driver is not None and not driver.is_closed():
                return driver
            await self._drop()  # lost while idle: nothing was sent on it
        raise ConnectionLostError("could not get a live database connection")

    async def _once(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        if self._connection is None:
            self._connection = await self._engine.connect()
        connection = self._connection
        committing = False
        try:
            async with connection.begin():
                result = await connection.run_sync(fn, *args)
                committing = True
            return result
        except DBAPIError as exc:
            if exc.connection_invalidated or connection.invalidated:
                await self._drop()
                if not committing:
                    raise _LostBeforeCommit(exc) from exc
            raise

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # it is gone already
                await connection.close()

    async def close(self) -> None:
        """Give the connection back to the pool (before the engine is disposed)."""
        async with self._lock:
            await self._drop()


class ConnectionLostError(Exception):
    """The held connection was lost while :meth:`HeldConnection.run_driver` ran."""


class _LostBeforeCommit(Exception):
    def __init__(self, error: DBAPIError) -> None:
        super().__init__(str(error))
        self.error = error
