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
    result = await session.execute(
        update(QuotaCounter)
        .where(
            QuotaCounter.token_id == token_id,
            QuotaCounter.day == day,
            QuotaCounter.count < quota,
        )
        .values(count=QuotaCounter.count + 1)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return True
    if quota < 1:
        return False
    try:
        async with session.begin_nested():
            await session.execute(insert(QuotaCounter).values(token_id=token_id, day=day, count=1))
    except IntegrityError:
        return False  # the row exists, so the UPDATE above found it full
    return True


async def release(session: AsyncSession, token_id: int, day: str) -> None:
    """Un-count one call (its admission was rejected by a later check)."""
    await session.execute(
        update(QuotaCounter)
        .where(QuotaCounter.token_id == token_id, QuotaCounter.day == day, QuotaCounter.count > 0)
        .values(count=QuotaCounter.count - 1)
    )
