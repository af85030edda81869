"""The result cache: table ``results`` and its in-memory copy of fresh results.

Table ``results`` holds one row per item, the latest collected result. ``status`` is
``ok`` (``payload`` = the collector's payload, unchanged) or ``not_supported``
(``payload`` = ``{"reason": ...}``). Failed collections are never cached. Portable SQL
only: the upsert is an UPDATE followed, when it matched no row, by an INSERT (at most
one task per item is active, so two writers cannot race here).

:class:`FreshResults` is a bounded in-memory copy of *fresh* rows in front of the
table, so a cached-item call does not read the database (SPEC §2.6 "a fresh cached
result answers at once"). Each entry keeps the row's own ``expires_at`` (``result_ttl``
or the negative TTL, set when the row was written) and is dropped once the injected
clock passes it. It also keeps the payload serialized once (``payload_json``), so the
answer is not re-serialized from Python objects per call.

Why the copy cannot go stale within one process: a row is only replaced by a task that
finished, and a task is only created when no fresh result exists (``resolve`` checks,
and its INSERT re-checks inside the statement); nothing deletes rows. With several
server processes on one database, a process could keep serving its copy of a row that
another process replaced (still only within that copy's TTL); a deployment like that
would drop entries on a cross-process notification (the ``Notifier`` seam: a
PostgreSQL LISTEN/NOTIFY or Redis implementation calling :meth:`FreshResults.discard`).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.server.store.sql import rowcount
from jditem.server.store.tables import CachedResult

ResultStatus = Literal["ok", "not_supported"]

#: Entries kept at most by default (least recently used ones are dropped first).
FRESH_RESULTS_MAX = 10_000


async def read_fresh(
    session: AsyncSession, item_id: str, now: datetime, after: datetime | None = None
) -> CachedResult | None:
    """The cached result for ``item_id`` if it has not expired at ``now`` (and, with
    ``after``, was collected after it)."""
    stmt = select(CachedResult).where(
        CachedResult.item_id == item_id, CachedResult.expires_at > now
    )
    if after is not None:
        stmt = stmt.where(CachedResult.fetched_at > after)
    return (await session.execute(stmt)).scalar_one_or_none()


async def read_any(session: AsyncSession, item_id: str) -> CachedResult | None:
    """The cached result for ``item_id`` whatever its age (waiters of a finished task)."""
    return await session.get(CachedResult, item_id, populate_existing=True)


async def store(
    session: AsyncSession,
    *,
    item_id: str,
    status: ResultStatus,
    payload: dict[str, Any] | None,
    task_id: str,
    now: datetime,
    ttl_seconds: float,
) -> None:
    """Write (or overwrite) the cached result of ``item_id``; the caller commits."""
    expires_at = now + timedelta(seconds=ttl_seconds)
    values: dict[str, Any] = {
        "status": status,
        "payload": payload,
        "task_id": task_id,
        "fetched_at": now,
        "expires_at": expires_at,
    }
    stmt = (
        update(CachedResult)
        .where(CachedResult.item_id == item_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if rowcount(await session.execute(stmt)) == 0:
        session.add(CachedResult(item_id=item_id, **values))
        await session.flush()


def dumps_payload(payload: Any) -> bytes:
    """``payload`` as compact UTF-8 JSON, byte for byte what Starlette's JSONResponse
    writes for it."""
    return json.dumps(
        payload, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


@dataclass(frozen=True, slots=True)
class FreshResult:
    """An in-memory copy of one ``results`` row (treat ``payload`` as read-only)."""

    item_id: str
    status: str  # ok | not_supported
    payload: dict[str, Any] | None
    task_id: str | None
    expires_at: datetime  # aware UTC
    #: when the result was collected (aware UTC)
    fetched_at: datetime
    #: ``ok`` rows: the payload serialized once (see :func:`dumps_payload`).
    payload_json: bytes | None

    @classmethod
    def of(cls, row: CachedResult) -> FreshResult:
        """Copy ``row`` (serializing an ``ok`` payload once)."""
        payload_json = dumps_payload(row.payload) if row.status == "ok" else None
        return cls(
            item_id=row.item_id,
            status=row.status,
            payload=row.payload,
            task_id=row.task_id,
            expires_at=row.expires_at,
            fetched_at=row.fetched_at,
            payload_json=payload_json,
        )

    @property
    def reason(self) -> str:
        """Why a ``not_supported`` item is not supported (the collector's words)."""
        reason = (self.payload or {}).get("reason")
        return str(reason) if reason else "item not supported"


class FreshResults:
    """Bounded LRU map item id → :class:`FreshResult` (see the module docstring)."""

    def __init__(self, max_items: int = FRESH_RESULTS_MAX) -> None:
        self._max = max_items
        self._entries: OrderedDict[str, FreshResult] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, item_id: str, now: datetime, after: datetime | None = None) -> FreshResult | None:
        """The entry for ``item_id`` if it is still fresh at ``now`` (aware UTC) and, with
        ``after``, was collected after it (an older entry stays for other callers)."""
        entry = self._entries.get(item_id)
        if entry is None:
            return None
        if entry.expires_at <= now:
            del self._entries[item_id]
            return None
        if after is not None and entry.fetched_at <= after:
            return None
        self._entries.move_to_end(item_id)
        return entry

    def remember(self, row: CachedResult, now: datetime) -> FreshResult | None:
        """Keep a copy of ``row`` if it is fresh at ``now``; returns the copy."""
        if self._max <= 0 or row.expires_at <= now:
            return None
        current = self._entries.get(row.item_id)
        if current is not None and (current.task_id, current.expires_at) == (
            row.task_id,
            row.expires_at,
        ):
            self._entries.move_to_end(row.item_id)
            return current  # same row: keep the serialized payload
        entry = FreshResult.of(row)
        self._entries[row.item_id] = entry
        self._entries.move_to_end(row.item_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return entry

    def discard(self, item_id: str) -> None:
        """Forget ``item_id`` (e.g. on a notification that another process replaced it)."""
        self._entries.pop(item_id, None)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
