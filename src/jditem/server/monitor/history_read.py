"""Reading an account's history of an item (SPEC §6.1): its change points in time order.

One indexed range read on the unique key (account, item, seq). An account reads only
its own rows: another account's history of the same item is simply not there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.server.clock import as_utc
from jditem.server.monitor.tracked import ChangePoint, decode
from jditem.server.store.tables import HistoryPoint

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "HistoryPage", "read_history"]

#: Points answered when the caller gives no limit, and the most it may ask for.
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """Change points oldest first; ``has_more``: older ones were left out by the limit."""

    points: list[ChangePoint]
    has_more: bool


async def read_history(
    session: AsyncSession,
    account_id: int,
    item_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
) -> HistoryPage:
    """The newest ``limit`` points of the item's history in ``[since, until]``, oldest first.

    A point belongs to the window when it is in effect at some time in it: it starts at
    or before ``until``, and it is the point in effect at ``since`` or a later one.
    """
    h = HistoryPoint
    mine = (h.account_id == account_id, h.item_id == item_id)
    stmt = select(h.valid_from, h.last_confirmed_at, h.state).where(*mine)
    if since is not None:  # stored as UTC (SQLite compares the text): compare in UTC
        since = as_utc(since)
        in_effect = select(func.coalesce(func.max(h.seq), 0)).where(*mine, h.valid_from <= since)
        stmt = stmt.where(h.seq >= in_effect.scalar_subquery())
    if until is not None:
        stmt = stmt.where(h.valid_from <= as_utc(until))
    rows = (await session.execute(stmt.order_by(h.seq.desc()).limit(limit + 1))).all()
    points = [
        ChangePoint(valid_from, confirmed, decode(state))
        for valid_from, confirmed, state in rows[:limit]
    ]
    points.reverse()
    return HistoryPage(points, len(rows) > limit)
