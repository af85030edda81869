"""The items of a watch list in the store (SPEC §6.2): add and remove in bulk, page through
them, count them.

Every function runs in the caller's session (and transaction); the list itself (create,
find, pause, drop) is :mod:`.watchlists`. An item added is first checked at its place on
the list's grid (:func:`.slots.next_slot`), within one interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.server.monitor.slots import next_slot
from jditem.server.monitor.watchlists import WatchError
from jditem.server.store.sql import rowcount
from jditem.server.store.watch_tables import WatchItemRow, WatchListRow

#: Rows written or looked up per statement when items are added or removed in bulk.
CHUNK = 2_000


async def add_items(
    session: AsyncSession, row: WatchListRow, item_ids: Sequence[str], now: datetime, limit: int
) -> tuple[int, int]:
    """Add the distinct ``item_ids`` (valid ids) the list does not hold yet; each is
    first checked at its place on the list's grid, within one interval. Returns (added,
    already there). :class:`WatchError` when the list would exceed ``limit`` items."""
    new: list[str] = []
    for start in range(0, len(item_ids), CHUNK):
        chunk = item_ids[start : start + CHUNK]
        held = set(
            (
                await session.scalars(
                    select(WatchItemRow.item_id).where(
                        WatchItemRow.list_id == row.id, WatchItemRow.item_id.in_(chunk)
                    )
                )
            ).all()
        )
        new.extend(item for item in chunk if item not in held)
    count = await count_items(session, row.id)
    if count + len(new) > limit:
        raise WatchError(
            f"a watch list holds at most {limit} items; {row.name!r} has {count} and "
            f"{len(new)} would be added: remove some or use another list"
        )
    rows = [
        {
            "list_id": row.id,
            "account_id": row.account_id,
            "item_id": item,
            "active": not row.paused,
            "next_check_at": next_slot(now, row.id, item, row.interval_seconds),
            "added_at": now,
        }
        for item in new
    ]
    for start in range(0, len(rows), CHUNK):
        await session.execute(insert(WatchItemRow), rows[start : start + CHUNK])
    return len(new), len(item_ids) - len(new)


async def remove_items(session: AsyncSession, row: WatchListRow, item_ids: Sequence[str]) -> int:
    """Remove ``item_ids`` from the list; returns how many it held."""
    removed = 0
    for start in range(0, len(item_ids), CHUNK):
        removed += rowcount(
            await session.execute(
                delete(WatchItemRow).where(
                    WatchItemRow.list_id == row.id,
                    WatchItemRow.item_id.in_(item_ids[start : start + CHUNK]),
                )
            )
        )
    return removed


async def items_page(
    session: AsyncSession, row: WatchListRow, after: str | None, limit: int
) -> Sequence[WatchItemRow]:
    """Up to ``limit`` of the list's items with ids after ``after``, by item id."""
    query = select(WatchItemRow).where(WatchItemRow.list_id == row.id)
    if after is not None:
        query = query.where(WatchItemRow.item_id > after)
    return (await session.scalars(query.order_by(WatchItemRow.item_id).limit(limit))).all()


async def count_items(session: AsyncSession, list_id: int) -> int:
    """How many items the list holds."""
    found = await session.scalar(
        select(func.count()).select_from(WatchItemRow).where(WatchItemRow.list_id == list_id)
    )
    return int(found or 0)
