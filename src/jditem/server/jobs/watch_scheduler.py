"""The watch-list scheduler (SPEC §6.2): due items → calls through admission.

Runs in the worker role: in-process with ``jditem serve``, in ``jditem worker``
processes in scale-out — where exactly one is active at a time, by the role lease
``watch-scheduler`` (:mod:`.singleton`); another takes over within one lease after its
process dies.

Each :meth:`WatchScheduler.tick` picks at most ``watch_batch`` due items of unpaused
lists through the index on ``(active, next_check_at)`` — O(due), not O(watched) — and
checks each (account, item) ONCE, whatever number of the account's lists hold it: the
call goes through :meth:`Admission.answer <jditem.server.admission.pipeline.Admission.answer>`
with the token of the lowest-numbered due list (the *paying* list; rate, quota, budget,
balance, then that list's daily budget; charged only on code 0; the call record names
the list). Its ``Idempotency-Key`` is the slot's (:func:`~jditem.server.monitor.slots.slot_key`),
so a check repeated after a crash or a takeover is a free replay, never a second charge.
A check observes the item: a cached result collected before the item's previous check,
or more than half an interval ago (:func:`observed_before`), does not answer it — the
item is collected anew — so a list never pays for the same stored answer twice, whatever
the result cache's TTL.

After the answer:

* a product (0) or "not supported" (202): every row of the account holding the item is
  checked now, counts whether the check found a change, and moves to its next check
  time after now — its list's next grid time (fixed), or the adaptive policy's
  (:mod:`.watch_adaptive`); an item overdue after downtime is checked once, not once
  per missed slot;
* an adaptive list never spends calls its budget would refuse: when more of its items
  are due than its budget still pays today, the charges go to the checks expected to
  detect the most changes, and the list pauses (``list_budget``) for the rest;
* a refusal for money or quota (602, 303, 601): the paying list pauses with that reason
  (:mod:`~jditem.server.monitor.pauses`); its items keep their due time, and the list
  resumes by itself once the cause is gone (checked every few ticks);
* anything transient (102, 301, 302, 500, 503): the paying row is tried again after
  ``Retry-After`` (bounded by its interval); other answers (100, 600): its next slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.protocol.codes import Code
from jditem.protocol.monitoring import PausedReason
from jditem.server.accounts import quota
from jditem.server.admission.answers import Answer
from jditem.server.admission.call import WatchOrigin
from jditem.server.admission.pipeline import Admission
from jditem.server.clock import Clock, now_utc
from jditem.server.ids import new_request_id
from jditem.server.jobs.leases import new_owner
from jditem.server.jobs.singleton import RoleLease
from jditem.server.jobs.watch_adaptive import (
    Plans,
    charges_left,
    grid_interval,
    record_check,
)
from jditem.server.monitor import pauses, watchlists
from jditem.server.monitor.adaptive import Candidate, rank
from jditem.server.monitor.policy import ChangeStats
from jditem.server.monitor.slots import next_slot, slot_key
from jditem.server.settings import Settings
from jditem.server.store.db import Database
from jditem.server.store.watch_tables import ADAPTIVE, WatchItemRow, WatchListRow

log = logging.getLogger("jditem.server.watch")

#: The lease that makes one process of a deployment the scheduler.
LEASE_NAME = "watch-scheduler"
#: Answers after which the item counts as checked (the observation is made or final).
CHECKED = frozenset({Code.SUCCESS, Code.NOT_SUPPORTED})
#: Answers tried again soon (after Retry-After), at the same slot.
TRANSIENT = frozenset(
    {
        Code.PENDING,
        Code.COLLECTION_FAILED,
        Code.RATE_LIMITED,
        Code.INTERNAL_ERROR,
        Code.SERVICE_UNAVAILABLE,
    }
)
#: Ticks between two looks at the lists paused for a cause that may be gone.
RESUME_EVERY = 5


@dataclass(frozen=True, slots=True)
class DueItem:
    """One due row: the list holding the item, and when its check was due."""

    row_id: int
    list_id: int
    account_id: int
    item_id: str
    due: datetime
    last_checked_at: datetime | None = None
    record: ChangeStats | None = None


def observed_before(now: datetime, due: DueItem, listed: WatchListRow) -> datetime:
    """A cached result collected at or before this does not answer a check at ``now``:
    it must be newer than the item's previous check and than half the list's interval
    (a result collected for someone else a moment ago serves; an hour-old one does not)."""
    floor = now - timedelta(seconds=listed.interval_seconds / 2)
    last = due.last_checked_at
    return floor if last is None or last < floor else last


async def pick_due(
    db: Database, now: datetime, limit: int
) -> tuple[list[DueItem], dict[int, WatchListRow]]:
    """At most ``limit`` due items of unpaused lists, oldest due first, and their lists.

    One range scan of the index on ``(active, next_check_at)``: the cost follows the due
    rows read, not the rows watched (``benchmarks/watch_tick.py`` measures it).
    """
    async with db.reading() as session:
        rows = (
            await session.execute(
                select(
                    WatchItemRow.id,
                    WatchItemRow.list_id,
                    WatchItemRow.account_id,
                    WatchItemRow.item_id,
                    WatchItemRow.next_check_at,
                    WatchItemRow.last_checked_at,
                    WatchItemRow.record_changed,
                    WatchItemRow.record_changed_seconds,
                    WatchItemRow.record_quiet_seconds,
                )
                .where(WatchItemRow.active == true(), WatchItemRow.next_check_at <= now)
                .order_by(WatchItemRow.next_check_at)
                .limit(limit)
            )
        ).all()
        due = [
            DueItem(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                None if r[6] is None else ChangeStats(r[6], r[7] or 0.0, r[8] or 0.0),
            )
            for r in rows
        ]
        list_ids = sorted({d.list_id for d in due})
        found = await session.scalars(select(WatchListRow).where(WatchListRow.id.in_(list_ids)))
        return due, {row.id: row for row in found.all()}


class WatchScheduler:
    """Checks due watch-list items through admission (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        admission: Admission,
        clock: Clock,
        *,
        owner: str | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._admission = admission
        self._clock = clock
        self.lease = RoleLease(db, clock, LEASE_NAME, owner or new_owner(), settings.lease_seconds)
        self._lanes = asyncio.Semaphore(settings.watch_lanes)
        self._loop: asyncio.Task[None] | None = None
        self._ticks = 0
        self._plans = Plans(settings.price_units)
        #: True while this process holds the lease (renewed every third of it).
        self.leading = False

    # ----------------------------------------------------------------- lifecycle

    @property
    def running(self) -> bool:
        """True while this process runs the scheduler loop (it checks while ``leading``)."""
        return self._loop is not None and not self._loop.done()

    def start(self) -> None:
        """Run the scheduler loop in the background (no-op if already running)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._run(), name="watch")

    async def stop(self) -> None:
        """Stop the loop and give the lease back (bounded)."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        if self.leading:
            self.leading = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.lease.release(), 5.0)

    async def _run(self) -> None:
        holder = asyncio.get_running_loop().create_task(self._hold(), name="watch-lease")
        try:
            while True:
                busy = False
                if self.leading:
                    try:
                        busy = await self.tick(while_leading=True) >= self._settings.watch_batch
                    except Exception:
                        log.exception("watch scheduler tick failed; trying again")
                if not busy:
                    await asyncio.sleep(self._settings.watch_tick_seconds)
        finally:
            holder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await holder

    async def _hold(self) -> None:
        """Take, then renew, the lease, apart from the ticks (a long tick never lets it
        lapse): the holder renews every third of it, the others try every sixth, so a
        dead holder's role is taken within one lease (plus a sixth) of its last renewal."""
        lease = self.lease.length.total_seconds()
        while True:
            try:
                self.leading = await self.lease.acquire()
            except Exception:
                log.warning("watch scheduler: the lease could not be renewed", exc_info=True)
                self.leading = False  # checks stop until the database answers again
            await asyncio.sleep(lease / (3 if self.leading else 6))

    # ---------------------------------------------------------------------- tick

    async def tick(self, *, while_leading: bool = False) -> int:
        """Check the due items once; returns how many due rows were picked.

        ``while_leading``: start no further check once this process lost the lease (the
        background loop; a check already made is the next holder's free replay).
        """
        self._ticks += 1
        if self._ticks % RESUME_EVERY == 1:
            await self.resume_paused()
        now = now_utc(self._clock)
        due, lists = await pick_due(self._db, now, self._settings.watch_batch)
        groups: dict[tuple[int, str], list[DueItem]] = defaultdict(list)
        for entry in due:
            if entry.list_id in lists:
                groups[(entry.account_id, entry.item_id)].append(entry)
        paying = [min(g, key=lambda d: d.list_id) for g in groups.values()]
        checks, spent = await self._within_budgets(paying, lists, now)
        paused: set[int] = set()
        await asyncio.gather(*(self._check(d, lists, paused, while_leading) for d in checks))
        for list_id in sorted(spent - paused):
            async with self._db.writing() as session:
                if await watchlists.set_paused(session, list_id, PausedReason.LIST_BUDGET, now):
                    log.info("watch list %s paused: its budget of the day is spent", list_id)
        return len(due)

    async def _within_budgets(
        self, paying: list[DueItem], lists: dict[int, WatchListRow], now: datetime
    ) -> tuple[list[DueItem], set[int]]:
        """The checks to make, and the adaptive lists whose budget of the day they spend.

        An adaptive list's due checks beyond what its budget still pays today are not
        made (the charge would be refused): its charges go to the checks expected to
        detect the most changes, and the list pauses for the rest.
        """
        adaptive = {d.list_id for d in paying if lists[d.list_id].schedule_mode == ADAPTIVE}
        if not adaptive:
            return paying, set()
        async with self._db.reading() as session:
            left = await charges_left(
                session,
                [lists[i] for i in sorted(adaptive)],
                now,
                self._settings.timezone,
                self._settings.price_units,
            )
        checks: list[DueItem] = []
        competing: dict[int, list[Candidate[DueItem]]] = defaultdict(list)
        for d in paying:
            if left.get(d.list_id) is None:
                checks.append(d)
                continue
            last = d.last_checked_at
            elapsed = math.inf if last is None else (now - last).total_seconds()
            competing[d.list_id].append(Candidate(d, d.record, elapsed))
        spent: set[int] = set()
        for list_id, candidates in competing.items():
            chosen, rest = rank(candidates, left[list_id] or 0)
            checks.extend(chosen)
            if rest:
                spent.add(list_id)
        return checks, spent

    async def _check(
        self, due: DueItem, lists: dict[int, WatchListRow], paused: set[int], guard: bool
    ) -> None:
        async with self._lanes:
            if due.list_id in paused:  # paused by an earlier check of this tick
                return
            if guard and not self.leading:  # the lease went to another process
                return
            listed = lists[due.list_id]
            try:
                identity = await self._admission.identity_for_token(listed.token_id)
                answer = await self._admission.answer(
                    identity,
                    due.item_id,
                    new_request_id(),
                    idempotency_key=slot_key(due.list_id, due.item_id, due.due),
                    origin=WatchOrigin(due.list_id),
                    collected_after=observed_before(now_utc(self._clock), due, listed),
                )
                await self._after(due, listed, answer, paused)
            except Exception:
                log.exception("watch check of item %s (list %s) failed", due.item_id, due.list_id)

    async def _after(
        self, due: DueItem, listed: WatchListRow, answer: Answer, paused: set[int]
    ) -> None:
        now = now_utc(self._clock)
        reason = pauses.reason_for(answer.code, answer.cause)
        if answer.code in CHECKED and listed.schedule_mode == ADAPTIVE:
            async with self._db.reading() as session:  # a plan remade outside the write
                await self._plans.get(session, listed, now)
        async with self._db.writing() as session:
            if answer.code in CHECKED:
                await record_check(
                    session, self._plans, due.account_id, due.item_id, answer.code, now
                )
            elif reason is not None:
                paused.add(due.list_id)
                if await watchlists.set_paused(session, due.list_id, reason, now):
                    log.info("watch list %s paused: %s", due.list_id, reason.value)
            elif answer.code in TRANSIENT:
                retry = _retry_after(answer, self._settings.retry_after_seconds)
                later = now + timedelta(seconds=min(retry, listed.interval_seconds))
                await self._set(session, due.row_id, answer.code, later)
            else:  # 100, 400, 600: nothing to observe at this slot
                later = next_slot(now, due.list_id, due.item_id, grid_interval(listed))
                await self._set(session, due.row_id, answer.code, later)

    @staticmethod
    async def _set(session: AsyncSession, row_id: int, code: int, next_at: datetime) -> None:
        await session.execute(
            update(WatchItemRow)
            .where(WatchItemRow.id == row_id)
            .values(last_code=int(code), next_check_at=next_at)
            .execution_options(synchronize_session=False)
        )

    # ------------------------------------------------------------------ resuming

    async def resume_paused(self) -> int:
        """Resume the lists paused for a cause that is gone; returns how many."""
        now = now_utc(self._clock)
        day = quota.local_day(now, self._settings.timezone)
        price = self._settings.price_units
        resumed = 0
        async with self._db.reading() as session:
            waiting = (
                await session.scalars(
                    select(WatchListRow).where(
                        WatchListRow.paused.is_(True),
                        WatchListRow.paused_reason != PausedReason.USER.value,
                    )
                )
            ).all()
            gone = [
                (row.id, PausedReason(row.paused_reason))
                for row in waiting
                if row.paused_reason
                and await pauses.cause_gone(
                    session, row, PausedReason(row.paused_reason), price, day
                )
            ]
        for list_id, reason in gone:
            async with self._db.writing() as session:
                if await watchlists.set_paused(session, list_id, None, now, only_if=reason):
                    resumed += 1
                    log.info("watch list %s resumed: %s no longer binds", list_id, reason.value)
        return resumed


def _retry_after(answer: Answer, default: float) -> float:
    raw = answer.headers.get("Retry-After")
    try:
        return max(float(raw), 1.0) if raw is not None else float(default)
    except ValueError:
        return float(default)
