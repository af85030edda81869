"""Watch lists in the store (SPEC §6.2): create, change, pause, drop, status (their items:
:mod:`.watch_items`).

Every function runs in the caller's session (and transaction). A list belongs to an
account and runs under one of its tokens; its name is unique within the account, and
another account's list is simply not found. Money is integer units (0.0001 CNY).
Pausing keeps each item's schedule and flips its ``active`` flag, so the scheduler's
pick of due items never walks a paused list's rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.protocol.monitoring import (
    PausedReason,
    WatchList,
    WatchListStatus,
    WatchRules,
    WatchSchedule,
)
from jditem.server.accounts import quota
from jditem.server.accounts.money import MAX_UNITS, units_to_yuan
from jditem.server.clock import day_start_utc
from jditem.server.monitor.events import parse_rules
from jditem.server.store.event_tables import WatchCooldownRow
from jditem.server.store.sql import rowcount
from jditem.server.store.tables import HistoryPoint
from jditem.server.store.watch_tables import (
    ADAPTIVE,
    WatchItemRow,
    WatchListRow,
    WatchSpendRow,
)

#: The longest interval a list may have (30 days).
MAX_INTERVAL_SECONDS = 30 * 86_400
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class WatchError(Exception):
    """A request about watch lists that cannot be done (the message says why)."""


class WatchNotFoundError(WatchError):
    """No such watch list in the caller's account."""


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a list, else None."""
    if _NAME.fullmatch(name) is None:
        return (
            f"invalid list name {name[:40]!r}: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return None


def check_interval(seconds: int, floor: int) -> int:
    """``seconds`` if it is an allowed interval, else :class:`WatchError`."""
    if not floor <= seconds <= MAX_INTERVAL_SECONDS:
        raise WatchError(
            f"intervalSeconds must be between {floor} and {MAX_INTERVAL_SECONDS} "
            f"(30 days); got {seconds}"
        )
    return seconds


def check_budget(units: int) -> int:
    """``units`` if it is an allowed daily budget, else :class:`WatchError`."""
    if not 0 <= units <= MAX_UNITS:
        raise WatchError("dailyBudget must be between 0 and 100000000000 yuan")
    return units


async def create(
    session: AsyncSession,
    *,
    account_id: int,
    token_id: int,
    name: str,
    schedule: Mapping[str, object],
    daily_budget: int,
    now: datetime,
    rules: WatchRules | None = None,
) -> WatchListRow:
    """A new list of the account under ``token_id`` with the ``schedule`` columns (checked
    by the caller: :func:`.watch_schedule.schedule_values`); :class:`WatchError` if the
    name is taken or invalid; ``rules`` select what notifies (None: the defaults)."""
    problem = name_problem(name)
    if problem is not None:
        raise WatchError(problem)
    taken = await session.scalar(
        select(WatchListRow.id).where(
            WatchListRow.account_id == account_id, WatchListRow.name == name
        )
    )
    if taken is not None:
        raise WatchError(f"a watch list named {name!r} exists already; choose another name")
    row = WatchListRow(
        account_id=account_id,
        token_id=token_id,
        name=name,
        **schedule,
        daily_budget=check_budget(daily_budget),
        paused=False,
        paused_reason=None,
        rules=rules_text(rules),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def find(session: AsyncSession, account_id: int, name: str) -> WatchListRow:
    """The account's list called ``name`` (:class:`WatchNotFoundError` otherwise)."""
    row = await session.scalar(
        select(WatchListRow).where(WatchListRow.account_id == account_id, WatchListRow.name == name)
    )
    if row is None:
        raise WatchNotFoundError(
            f"no watch list named {name[:100]!r} in this token's account; "
            "list them with GET /api/watch/lists"
        )
    return row


async def of_account(session: AsyncSession, account_id: int) -> Sequence[WatchListRow]:
    """The account's lists, by name."""
    result = await session.scalars(
        select(WatchListRow)
        .where(WatchListRow.account_id == account_id)
        .order_by(WatchListRow.name)
    )
    return result.all()


async def set_paused(
    session: AsyncSession,
    list_id: int,
    reason: PausedReason | None,
    now: datetime,
    *,
    only_if: PausedReason | None = None,
) -> bool:
    """Pause the list with ``reason`` (None: resume it); with ``only_if``, only while it is
    paused for that reason (an automatic resume never overrides a person's pause).
    Returns whether the list changed."""
    condition = WatchListRow.id == list_id
    if only_if is not None:
        condition = condition & (WatchListRow.paused_reason == only_if.value)
    elif reason is not None and reason is not PausedReason.USER:
        condition = condition & WatchListRow.paused.is_(False)  # first cause wins
    changed = rowcount(
        await session.execute(
            update(WatchListRow)
            .where(condition)
            .values(
                paused=reason is not None,
                paused_reason=reason.value if reason is not None else None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    )
    if changed:
        await session.execute(
            update(WatchItemRow)
            .where(WatchItemRow.list_id == list_id)
            .values(active=reason is None)
            .execution_options(synchronize_session=False)
        )
    return changed == 1


async def change(
    session: AsyncSession, list_id: int, values: dict[str, object], now: datetime
) -> None:
    """Set the schedule columns, ``daily_budget`` and/or ``rules`` (:func:`rules_text`;
    checked by the caller). A new schedule applies from each item's next check on; a new
    budget to the next charge; new rules to the next event."""
    await session.execute(
        update(WatchListRow)
        .where(WatchListRow.id == list_id)
        .values(**values, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def drop(session: AsyncSession, row: WatchListRow) -> None:
    """Delete the list, its items and its spend rows (its ledger and call records stay).

    The list's row is locked first: a check being charged meanwhile either finished (its
    spend row is deleted here) or finds no list afterwards (and is refused).
    """
    await session.execute(
        select(WatchListRow.id).where(WatchListRow.id == row.id).with_for_update()
    )
    for table in (WatchItemRow, WatchSpendRow, WatchCooldownRow):
        await session.execute(delete(table).where(table.list_id == row.id))
    await session.execute(delete(WatchListRow).where(WatchListRow.id == row.id))


def yuan(units: int) -> Decimal:
    """Units as exact yuan."""
    return Decimal(units_to_yuan(units))


async def status(
    session: AsyncSession, row: WatchListRow, now: datetime, timezone: str
) -> WatchListStatus:
    """Where the list stands: pause state, today's spend and checks, next and last check."""
    items, next_at, last_at, due, checks, changes = (
        await session.execute(
            select(
                func.count(),
                func.min(WatchItemRow.next_check_at),
                func.max(WatchItemRow.last_checked_at),
                func.count().filter(WatchItemRow.next_check_at <= now),
                func.coalesce(func.sum(WatchItemRow.checks), 0),
                func.coalesce(func.sum(WatchItemRow.changes), 0),
            ).where(WatchItemRow.list_id == row.id)
        )
    ).one()
    charges = await session.scalar(
        select(func.coalesce(func.sum(WatchSpendRow.checks), 0)).where(
            WatchSpendRow.list_id == row.id
        )
    )
    h = HistoryPoint
    held = (h.account_id == WatchItemRow.account_id) & (h.item_id == WatchItemRow.item_id)
    last_change, changes_today = (
        await session.execute(
            select(
                func.max(h.valid_from),
                func.count().filter(h.valid_from >= _local_midnight(now, timezone)),
            )
            .select_from(WatchItemRow)
            .join(h, held)
            .where(WatchItemRow.list_id == row.id, h.seq > 1)  # the first point is a baseline
        )
    ).one()
    spend = (
        await session.execute(
            select(WatchSpendRow.spent, WatchSpendRow.checks).where(
                WatchSpendRow.list_id == row.id,
                WatchSpendRow.day == quota.local_day(now, timezone),
            )
        )
    ).first()
    return WatchListStatus(
        paused=row.paused,
        paused_reason=PausedReason(row.paused_reason) if row.paused_reason else None,
        spent_today=yuan(spend[0] if spend else 0),
        next_check_at=None if row.paused or next_at is None else max(next_at, now),
        last_check_at=last_at,
        last_change_at=last_change,
        changes_today=int(changes_today or 0),
        items=int(items or 0),
        items_due=0 if row.paused else int(due or 0),
        checks_today=int(spend[1]) if spend else 0,
        **_merit(int(checks), int(changes), int(charges or 0)),
    )


def _merit(checks: int, changes: int, charges: int) -> dict[str, Any]:
    """The list's figures of merit (SPEC §6.4): charges per detected change, empty checks."""
    return {
        "checks": checks,
        "changes": changes,
        "charges": charges,
        "charges_per_change": round(charges / changes, 3) if changes else None,
        "empty_share": round((checks - changes) / checks, 4) if checks else None,
    }


def _local_midnight(now: datetime, timezone: str) -> datetime:
    """The start of ``now``'s calendar day in ``timezone``, in UTC (as history is stored)."""
    zone = ZoneInfo(timezone)
    return day_start_utc(now.astimezone(zone).date(), zone)


def rules_text(rules: WatchRules | None) -> str | None:
    """Rules as stored in ``watch_lists.rules`` (None: the defaults)."""
    return None if rules is None else json.dumps(rules.to_wire(), separators=(",", ":"))


def wire(row: WatchListRow, token_prefix: str, state: WatchListStatus) -> WatchList:
    """The list as its account sees it (the token by its visible prefix only)."""
    return WatchList(
        id=str(row.id),
        name=row.name,
        token=f"{token_prefix}...",
        schedule=schedule_of(row),
        daily_budget=yuan(row.daily_budget),
        rules=parse_rules(row.rules),
        created_at=row.created_at,
        status=state,
    )


def schedule_of(row: WatchListRow) -> WatchSchedule:
    """The list's schedule on the wire: fixed, or adaptive (``interval_seconds`` holds an
    adaptive list's shortest interval)."""
    if row.schedule_mode == ADAPTIVE and row.max_interval_seconds:
        return WatchSchedule(
            min_interval_seconds=row.interval_seconds,
            max_interval_seconds=row.max_interval_seconds,
            within_seconds=row.within_seconds,
        )
    return WatchSchedule(interval_seconds=row.interval_seconds)
