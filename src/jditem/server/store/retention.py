"""Retention: delete what an operator no longer needs (``jditem admin prune``).

What is kept and for how long (settings, environment prefix ``JDITEM_``):

* call records: ``call_record_retention_days`` (default 90); the hourly counts in
  ``usage_hourly`` (what the trend and spending pages read) are kept;
* calls without a valid token: only the newest ``unknown_token_samples`` records
  (trimmed by the server as it writes them; prune trims again), plus hourly counts;
* finished task rows: ``task_retention_days`` (default 30); queued and running
  tasks are never touched, cached results are governed by their own TTLs;
* the relay's upstream call and circuit-event rows: like call records
  (``call_record_retention_days``);
* change events (SPEC §6.3) and their list rows: ``event_retention_days`` (default 90),
  by their time-ordered ids;
* idempotency keys past ``idempotency_ttl_seconds``, expired cached results,
  expired console sessions and quota counters of days before the call-record cutoff.

Deletes run in batches of :data:`BATCH` rows, one short transaction each, so a
running server keeps serving while a large backlog is pruned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.sql.elements import ColumnElement

from jditem.server.ids import event_id_floor
from jditem.server.settings import Settings
from jditem.server.store.db import Database
from jditem.server.store.event_tables import ChangeEventListRow, ChangeEventRow
from jditem.server.store.tables import (
    FINAL_TASK_STATUSES,
    CachedResult,
    CallRecord,
    ConsoleSessionRow,
    IdempotencyKey,
    QuotaCounter,
    Task,
    UpstreamCall,
    UpstreamEvent,
)

#: Rows deleted per transaction.
BATCH = 5000


@dataclass
class PruneReport:
    """Rows deleted (or, in a dry run, that would be) per table."""

    dry_run: bool
    deleted: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """All rows together."""
        return sum(self.deleted.values())


async def _count(db: Database, table: Any, where: ColumnElement[bool]) -> int:
    async with db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(table).where(where)) or 0)


async def _delete_batched(db: Database, key: Any, where: ColumnElement[bool]) -> int:
    """Delete rows matching ``where`` in batches (by primary key ``key``)."""
    table: Table = key.table
    total = 0
    while True:
        ids = select(key).where(where).limit(BATCH).scalar_subquery()
        async with db.writing() as session:
            result = await session.execute(delete(table).where(key.in_(ids)))
        count = int(getattr(result, "rowcount", 0) or 0)
        total += count
        if count < BATCH:
            return total


async def prune(
    db: Database, settings: Settings, now: datetime, *, dry_run: bool = False
) -> PruneReport:
    """Apply the retention settings at ``now`` (aware UTC); see the module docstring."""
    report = PruneReport(dry_run)
    calls_cutoff = now - timedelta(days=settings.call_record_retention_days)
    tasks_cutoff = now - timedelta(days=settings.task_retention_days)
    keys_cutoff = now - timedelta(seconds=settings.idempotency_ttl_seconds)
    anonymous_floor = await _anonymous_floor(db, settings.unknown_token_samples)
    events_cutoff = now - timedelta(days=settings.event_retention_days)
    events_floor = event_id_floor(int(events_cutoff.timestamp() * 1000))
    plan: list[tuple[str, Any, Any, ColumnElement[bool]]] = [
        ("call_records", CallRecord.__table__, CallRecord.id, CallRecord.created_at < calls_cutoff),
        (
            "call_records (no token)",
            CallRecord.__table__,
            CallRecord.id,
            (CallRecord.token_id.is_(None) & (CallRecord.id <= anonymous_floor))
            if anonymous_floor is not None
            else CallRecord.id < 0,
        ),
        (
            "tasks",
            Task.__table__,
            Task.id,
            Task.status.in_(FINAL_TASK_STATUSES)
            & (func.coalesce(Task.finished_at, Task.submitted_at) < tasks_cutoff),
        ),
        (
            "upstream_calls",
            UpstreamCall.__table__,
            UpstreamCall.id,
            UpstreamCall.created_at < calls_cutoff,
        ),
        (
            "upstream_events",
            UpstreamEvent.__table__,
            UpstreamEvent.id,
            UpstreamEvent.created_at < calls_cutoff,
        ),
        (
            "change_events",
            ChangeEventRow.__table__,
            ChangeEventRow.id,
            ChangeEventRow.id < events_floor,
        ),
        (
            "change_event_lists",
            ChangeEventListRow.__table__,
            ChangeEventListRow.event_id,
            ChangeEventListRow.event_id < events_floor,
        ),
        (
            "idempotency_keys",
            IdempotencyKey.__table__,
            IdempotencyKey.id,
            IdempotencyKey.created_at < keys_cutoff,
        ),
        ("results", CachedResult.__table__, CachedResult.item_id, CachedResult.expires_at < now),
        (
            "console_sessions",
            ConsoleSessionRow.__table__,
            ConsoleSessionRow.sid_hash,
            ConsoleSessionRow.expires_at < now,
        ),
    ]
    for name, table, key, where in plan:
        if dry_run:
            report.deleted[name] = await _count(db, table, where)
        else:
            report.deleted[name] = await _delete_batched(db, key, where)
    day = (calls_cutoff - timedelta(days=1)).date().isoformat()
    quota_where = QuotaCounter.day < day
    if dry_run:
        report.deleted["quota_counters"] = await _count(db, QuotaCounter.__table__, quota_where)
    else:
        async with db.writing() as session:
            result = await session.execute(delete(QuotaCounter).where(quota_where))
        report.deleted["quota_counters"] = int(getattr(result, "rowcount", 0) or 0)
    return report


async def _anonymous_floor(db: Database, keep: int) -> int | None:
    """The id at and below which token-less call records are beyond the newest ``keep``."""
    async with db.reading() as session:
        value = await session.scalar(
            select(CallRecord.id)
            .where(CallRecord.token_id.is_(None))
            .order_by(CallRecord.id.desc())
            .limit(1)
            .offset(keep)
        )
    return int(value) if value is not None else None
