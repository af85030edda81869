"""Usage accounting off the hot path: call records and their hourly rollups.

:class:`CallRecorder` buffers one :class:`CallRow` per v2 call and writes them in
batches (one transaction per flush: the ``call_records`` rows plus the
``usage_hourly`` increments), every ``flush_seconds`` or when ``batch_size`` rows are
waiting, and once more at shutdown. A call therefore costs an in-memory append, not a
database write. On file-backed SQLite a flush runs in the database's writer thread
(:func:`write_calls`, one driver ``executemany``); the batches stay small (default 200
rows) because the charges of concurrent calls queue behind a flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    Table,
    bindparam,
    delete,
    insert,
    select,
    update,
)

from jditem.server.store.db import Database
from jditem.server.store.tables import CallRecord, UsageHourly
from jditem.server.store.types import UtcDateTime
from jditem.server.store.writer import Prepared

log = logging.getLogger("jditem.server.usage")

#: Most call records kept in memory while the database refuses writes.
MAX_BUFFERED = 100_000


@dataclass(frozen=True, slots=True)
class CallRow:
    """One call as recorded in ``call_records``."""

    request_id: str
    token_id: int | None
    account_id: int | None
    endpoint: str
    item_id: str | None
    code: int
    charged: int
    task_id: str | None
    latency_ms: int
    created_at: datetime
    #: The watch list whose scheduled check made the call, else None.
    watch_list_id: int | None = None


class CallRecorder:
    """Buffers call rows and flushes them (with hourly rollups) in batches."""

    def __init__(
        self,
        db: Database,
        *,
        flush_seconds: float = 0.5,
        batch_size: int = 200,
        anonymous_keep: int | None = None,
    ) -> None:
        """``anonymous_keep``: call records without a valid token kept (the newest N;
        ``None`` = all). Their hourly counts are always kept in ``usage_hourly``."""
        self._db = db
        self._anonymous_keep = anonymous_keep
        self._flush_seconds = flush_seconds
        self._batch_size = batch_size
        self._buffer: list[CallRow] = []
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        #: callers of record_durably waiting for the flush that writes their row
        self._waiters: list[asyncio.Future[None]] = []

    def record(self, row: CallRow) -> None:
        """Queue ``row`` for the next flush (never blocks, never touches the database)."""
        self._buffer.append(row)
        if len(self._buffer) >= self._batch_size:
            self._wake.set()

    async def record_durably(self, row: CallRow) -> None:
        """Queue ``row``, flush now, and return once it is written (for answers that
        must survive a crash: code 0 without a charge, e.g. a free idempotent replay).

        Concurrent callers share one flush (a group commit). If the write fails the
        row stays buffered for the next flush and this returns anyway: the answer is
        not held back by the bookkeeping. Without a running flusher it just queues.
        """
        if self._runner is None:
            self.record(row)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer.append(row)
        self._waiters.append(waiter)
        self._wake.set()
        await asyncio.shield(waiter)

    @property
    def pending(self) -> int:
        """Rows waiting for the next flush."""
        return len(self._buffer)

    def start(self) -> None:
        """Start the background flusher on the running loop."""
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the flusher and write whatever is still buffered."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._flush_seconds)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # keep recording; the next flush retries the rows
                log.exception("writing call records failed; will retry")

    async def flush(self) -> int:
        """Write the buffered rows now; returns how many were written."""
        async with self._flush_lock:
            rows, self._buffer = self._buffer, []
            waiters, self._waiters = self._waiters, []
            try:
                return await self._flush_rows(rows)
            finally:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)

    async def _flush_rows(self, rows: list[CallRow]) -> int:
        if not rows:
            return 0
        try:
            await self._write(rows)
        except Exception:
            self._buffer[:0] = rows
            if len(self._buffer) > MAX_BUFFERED:  # the database stays down: bound memory
                dropped = len(self._buffer) - MAX_BUFFERED
                del self._buffer[:dropped]
                log.error("dropped %d unwritten call records (database unavailable)", dropped)
            raise
        return len(rows)

    async def _write(self, all_rows: list[CallRow]) -> None:
        keep = self._anonymous_keep
        anonymous = any(r.token_id is None for r in all_rows)
        rows = all_rows
        if keep == 0 and anonymous:
            rows = [r for r in all_rows if r.token_id is not None]
        trim = keep if anonymous and keep else None
        await self._db.write_batch(write_calls, rows, rollup(all_rows), trim)


Rollup = dict[tuple[datetime, int, int], list[int]]


def hour_of(created_at: datetime) -> datetime:
    """The hour of ``usage_hourly`` a call made at ``created_at`` counts in."""
    return created_at.replace(minute=0, second=0, microsecond=0)


def rollup(rows: list[CallRow]) -> Rollup:
    """Calls and spend per (UTC hour, token id or 0, code)."""
    rollup: Rollup = defaultdict(lambda: [0, 0])
    for row in rows:
        entry = rollup[(hour_of(row.created_at), row.token_id or 0, row.code)]
        entry[0] += 1
        entry[1] += row.charged
    return rollup


def _call_row(r: CallRow) -> dict[str, object]:
    return {
        "request_id": r.request_id,
        "token_id": r.token_id,
        "account_id": r.account_id,
        "endpoint": r.endpoint,
        "item_id": r.item_id,
        "code": r.code,
        "charged": r.charged,
        "task_id": r.task_id,
        "latency_ms": r.latency_ms,
        "created_at": r.created_at,
        "watch_list_id": r.watch_list_id,
    }


# Core statements, compiled once and run on the writer's DBAPI cursor (see Prepared).
_U = cast(Table, UsageHourly.__table__)
_CALL_COLUMNS = (
    "request_id",
    "token_id",
    "account_id",
    "endpoint",
    "item_id",
    "code",
    "charged",
    "task_id",
    "latency_ms",
    "created_at",
    "watch_list_id",
)
_INSERT_CALLS = Prepared(insert(cast(Table, CallRecord.__table__)), column_keys=_CALL_COLUMNS)
_BUMP_USAGE = Prepared(
    update(_U)
    .where(
        _U.c.hour == bindparam("hour", type_=UtcDateTime()),
        _U.c.token_id == bindparam("token", type_=Integer()),
        _U.c.code == bindparam("code_", type_=Integer()),
    )
    .values(
        calls=_U.c.calls + bindparam("n_calls", type_=BigInteger()),
        spend=_U.c.spend + bindparam("n_spend", type_=BigInteger()),
    )
)
_INSERT_USAGE = Prepared(
    insert(_U).values(
        hour=bindparam("hour", type_=UtcDateTime()),
        token_id=bindparam("token", type_=Integer()),
        code=bindparam("code_", type_=Integer()),
        calls=bindparam("n_calls", type_=BigInteger()),
        spend=bindparam("n_spend", type_=BigInteger()),
    )
)


_C = cast(Table, CallRecord.__table__)


def _trim_anonymous_statement() -> Any:
    """Delete call records without a token except the newest ``:keep`` of them."""
    cutoff = (
        select(_C.c.id)
        .where(_C.c.token_id.is_(None))
        .order_by(_C.c.id.desc())
        .limit(bindparam("one", type_=Integer()))
        .offset(bindparam("keep", type_=Integer()))
        .scalar_subquery()
    )
    return delete(_C).where(_C.c.token_id.is_(None), _C.c.id <= cutoff)


_TRIM_ANONYMOUS = Prepared(_trim_anonymous_statement())


def write_calls(
    connection: Connection, rows: list[CallRow], rollup: Rollup, trim: int | None = None
) -> None:
    """Insert ``rows``, add ``rollup`` to ``usage_hourly`` and, with ``trim``, keep only the
    newest ``trim`` records of calls without a token (inside the caller's transaction)."""
    if rows:
        _INSERT_CALLS.executemany(connection, [_call_row(r) for r in rows])
    if trim is not None:
        _TRIM_ANONYMOUS.rowcount(connection, {"keep": trim, "one": 1})
    # in key order, so two processes bumping the same counters never deadlock
    for (hour, token_id, code), (calls, spend) in sorted(rollup.items()):
        params = {
            "hour": hour,
            "token": token_id,
            "code_": code,
            "n_calls": calls,
            "n_spend": spend,
        }
        if _BUMP_USAGE.rowcount(connection, params) == 0:
            _insert_usage(connection, params)


def _insert_usage(connection: Connection, params: dict[str, object]) -> None:
    """Insert a new hourly counter; if another process inserted it meanwhile, bump it."""
    integrity: type[Exception] = connection.dialect.loaded_dbapi.IntegrityError
    try:
        with connection.begin_nested():
            _INSERT_USAGE.rowcount(connection, params)
    except integrity:
        _BUMP_USAGE.rowcount(connection, params)
