"""Daily quotas: admitted calls per token per local calendar day.

There is no reset job: the local day (``YYYY-MM-DD`` in ``Settings.timezone``) is part of
the counter's key, so a new day simply starts a new row. Portable SQL only.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.server.store.tables import QuotaCounter


def local_day(now: datetime, timezone: str) -> str:
    """The calendar day of the aware datetime ``now`` in ``timezone``, as ``YYYY-MM-DD``."""
    return now.astimezone(ZoneInfo(timezone)).date().isoformat()


def next_reset(now: datetime, timezone: str) -> datetime:
    """The next local midnight after ``now`` (aware, in ``timezone``)."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    return datetime.combine(today + timedelta(days=1), time(0), tzinfo=zone)


async def try_consume(session: AsyncSession, token_id: int, day: str, quota: int) -> bool:
    """Count one admitted call for ``token_id`` on ``day`` unless ``quota`` is reached.

    Runs inside the caller's write transaction; True when the call was counted.
    """
    if await _count(session, token_id, day, quota):
        return True
    if quota < 1:
        return False
    try:
        async with session.begin_nested():
            await session.execute(insert(QuotaCounter).values(token_id=token_id, day=day, count=1))
    except IntegrityError:
        # another transaction (another process, on PostgreSQL) created the row after
        # the UPDATE above looked: count against it now
        return await _count(session, token_id, day, quota)
    return True


async def _count(session: AsyncSession, token_id: int, day: str, quota: int) -> bool:
    result = await session.execute(
        update(QuotaCounter)
        .where(
            QuotaCounter.token_id == token_id,
            QuotaCounter.day == day,
            QuotaCounter.count < quota,
        )
        .values(count=QuotaCounter.count + 1)
    )
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


async def release(session: AsyncSession, token_id: int, day: str) -> None:
    """Un-count one call (its admission was rejected by a later check)."""
    await session.execute(
        update(QuotaCounter)
        .where(QuotaCounter.token_id == token_id, QuotaCounter.day == day, QuotaCounter.count > 0)
        .values(count=QuotaCounter.count - 1)
    )
