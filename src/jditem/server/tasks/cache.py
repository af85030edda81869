"""The result cache (table ``results``): one row per item, the latest collected result.

``status`` is ``ok`` (``payload`` = the collector's payload, unchanged) or
``not_supported`` (``payload`` = ``{"reason": ...}``). Failed collections are never
cached. Portable SQL only: the upsert is an UPDATE followed, when it matched no row,
by an INSERT (at most one task per item is active, so two writers cannot race here).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.server.store.tables import CachedResult
from jditem.server.tasks._sql import rowcount

ResultStatus = Literal["ok", "not_supported"]


async def read_fresh(session: AsyncSession, item_id: str, now: datetime) -> CachedResult | None:
    """The cached result for ``item_id`` if it has not expired at ``now``."""
    stmt = select(CachedResult).where(
        CachedResult.item_id == item_id, CachedResult.expires_at > now
    )
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
