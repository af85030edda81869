"""The watch scheduler's record keeping and adaptive decisions, in the store (SPEC §6.4).

After a check (answer 0 or 202), :func:`record_check` writes, in the scheduler's
transaction, every row of the account holding the item: whether the check found a change
(the account's history of the item gained a point since the row's last check — the first
check is a baseline), the counts the list's stats show, the decayed change record, and
the next check time: the list's grid for a ``fixed`` list, the policy's for an
``adaptive`` one (:mod:`jditem.server.monitor.adaptive`, the decisions the replay makes).

:class:`Plans` keeps each adaptive list's plan, made again from its items' records every
:data:`~jditem.server.monitor.adaptive.REPLAN_EVERY` seconds or when the list changes.
:func:`charges_left` is what a list's budget still pays today, so a tick gives those
charges to the due checks with the most expected changes and pauses the list for the
rest, instead of making calls its budget would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.server.accounts import quota
from jditem.server.monitor.adaptive import REPLAN_EVERY, estimate, list_plan, next_due, observe
from jditem.server.monitor.policy import Bounds, ChangeStats, Plan, Target, affordable
from jditem.server.monitor.slots import next_slot, offset_seconds
from jditem.server.store.tables import HistoryPoint
from jditem.server.store.watch_tables import ADAPTIVE, WatchItemRow, WatchListRow, WatchSpendRow


def grid_interval(listed: WatchListRow) -> int:
    """The interval of the list's grid of slots for a check that taught nothing (an
    answer like 100 or 600): the fixed interval, or an adaptive list's longest."""
    if listed.schedule_mode == ADAPTIVE and listed.max_interval_seconds:
        return listed.max_interval_seconds
    return listed.interval_seconds


def record_of(row: WatchItemRow) -> ChangeStats | None:
    """The row's decayed change record (None before its first lesson: the prior)."""
    if row.record_changed is None:
        return None
    return ChangeStats(
        row.record_changed, row.record_changed_seconds or 0.0, row.record_quiet_seconds or 0.0
    )


def target(listed: WatchListRow, price_units: int) -> tuple[Bounds, Target]:
    """An adaptive list's bounds and target: "notice within" if set, and its budget."""
    bounds = Bounds(float(listed.interval_seconds), float(listed.max_interval_seconds or 0))
    per_day: float | None = None
    if price_units > 0:  # a budget paying nothing: planned at the bounds, then refused
        per_day = max(float(affordable(listed.daily_budget, price_units)), 1e-6)
    within = float(listed.within_seconds) if listed.within_seconds else None
    if per_day is None and within is None:  # free checks and no target: as often as allowed
        within = bounds.min_interval
    return bounds, Target(within=within, checks_per_day=per_day)


@dataclass(slots=True)
class _Made:
    plan: Plan
    at: datetime
    version: datetime


class Plans:
    """Adaptive lists' plans, made again when stale (per scheduler process)."""

    def __init__(self, price_units: int) -> None:
        self._price = price_units
        self._made: dict[int, _Made] = {}

    async def get(self, session: AsyncSession, listed: WatchListRow, now: datetime) -> Plan:
        """The list's plan at ``now`` (reads its items' records when it is made again)."""
        made = self._made.get(listed.id)
        fresh = made is not None and made.version == listed.updated_at
        if made is not None and fresh and (now - made.at).total_seconds() < REPLAN_EVERY:
            return made.plan
        w = WatchItemRow
        records = (
            await session.execute(
                select(w.record_changed, w.record_changed_seconds, w.record_quiet_seconds).where(
                    w.list_id == listed.id
                )
            )
        ).all()
        rates = [
            estimate(None if c is None else ChangeStats(c, s or 0.0, u or 0.0))
            for c, s, u in records
        ]
        bounds, goal = target(listed, self._price)
        plan = list_plan(rates, bounds, goal, at=now.timestamp())
        self._made[listed.id] = _Made(plan, now, listed.updated_at)
        return plan


async def latest_seq(session: AsyncSession, account_id: int, item_id: str) -> int:
    """The number of the account's newest history point of the item (0: none)."""
    h = HistoryPoint
    found = await session.scalar(
        select(func.max(h.seq)).where(h.account_id == account_id, h.item_id == item_id)
    )
    return int(found or 0)


async def record_check(
    session: AsyncSession,
    plans: Plans,
    account_id: int,
    item_id: str,
    code: int,
    now: datetime,
) -> None:
    """Write the check of ``item_id`` made at ``now`` into every row of the account holding
    it (see the module docstring)."""
    seq = await latest_seq(session, account_id, item_id)
    rows = (
        await session.execute(
            select(WatchItemRow, WatchListRow)
            .join(WatchListRow, WatchListRow.id == WatchItemRow.list_id)
            .where(WatchItemRow.account_id == account_id, WatchItemRow.item_id == item_id)
        )
    ).all()
    for row, listed in rows:
        changed = 0 < row.seen_seq < seq
        last = row.last_checked_at
        since = None if last is None else (now - last).total_seconds()
        record = observe(record_of(row), since, changed)
        current: float | None = None
        if listed.schedule_mode == ADAPTIVE and listed.max_interval_seconds:
            longest = listed.max_interval_seconds
            phase = offset_seconds(listed.id, item_id, longest) / longest
            plan = await plans.get(session, listed, now)
            current, at = next_due(now.timestamp(), record, plan, phase=phase)
            next_at = datetime.fromtimestamp(at, UTC)
        else:
            next_at = next_slot(now, listed.id, item_id, listed.interval_seconds)
        await session.execute(
            update(WatchItemRow)
            .where(WatchItemRow.id == row.id)
            .values(
                last_code=int(code),
                last_checked_at=now,
                next_check_at=next_at,
                seen_seq=max(seq, row.seen_seq),
                checks=WatchItemRow.checks + 1,
                changes=WatchItemRow.changes + int(changed),
                record_changed=record.changed,
                record_changed_seconds=record.changed_seconds,
                record_quiet_seconds=record.quiet_seconds,
                current_interval=current,
            )
            .execution_options(synchronize_session=False)
        )


async def charges_left(
    session: AsyncSession, lists: list[WatchListRow], now: datetime, timezone: str, price: int
) -> dict[int, int | None]:
    """Checks each list's daily budget still pays today (None: unbounded, free checks)."""
    if not lists:
        return {}
    day = quota.local_day(now, timezone)
    found = await session.execute(
        select(WatchSpendRow.list_id, WatchSpendRow.spent).where(
            WatchSpendRow.list_id.in_([row.id for row in lists]), WatchSpendRow.day == day
        )
    )
    spent = {int(list_id): int(units) for list_id, units in found.all()}
    return {
        row.id: None if price <= 0 else max(0, row.daily_budget - spent.get(row.id, 0)) // price
        for row in lists
    }
