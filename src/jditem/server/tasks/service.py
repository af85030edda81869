"""TaskService: step 8 of the admission pipeline (SPEC §2.4, §2.6).

``resolve(item_id)`` = :meth:`~TaskService.cached` (the fresh result in memory, no
database) or :meth:`~TaskService.collect`: a fresh cached row of the table, else the
item's active task attached to or a new one created (the unique partial index
``uq_tasks_active_item`` settles races: the loser of an INSERT race re-reads the
winner's task), then waited for, event-driven, up to ``wait_seconds``.

Waiting: all callers waiting on the same task in this process share one *watch* — a
small asyncio task that subscribes to the notifier, reads the task when notified and
resolves a shared future. So 100 waiters cost one database read per notification,
not 100, and nobody polls per waiter. The watch re-reads on its own every
``recheck_seconds`` as a backstop against a lost notification (e.g. a task finished by
another process while this one uses the in-process notifier); it is cancelled when its
last waiter leaves.

Fresh results read from the table (by ``collect``, or by a watch when this process's
task finished) are also kept in memory (:class:`~jditem.server.tasks.cache.FreshResults`,
each entry with its row's own expiry, checked against the injected clock), so the
cached-item hot path reads no database at all.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Insert,
    Integer,
    String,
    exists,
    insert,
    literal,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jditem.server.clock import Clock, now_utc, utc_now
from jditem.server.ids import new_task_id
from jditem.server.settings import Settings
from jditem.server.shared.notify import Notifier
from jditem.server.store.sql import rowcount
from jditem.server.store.tables import ACTIVE_TASK_STATUSES, CachedResult, Task
from jditem.server.store.types import UtcDateTime
from jditem.server.tasks import cache
from jditem.server.tasks.leases import write_gate
from jditem.server.tasks.outcome import Outcome, TaskView

log = logging.getLogger(__name__)

#: Default backstop re-read interval of a watch (seconds); notifications are the fast path.
RECHECK_SECONDS = 5.0
#: Pause before a watch re-reads after a database error (seconds).
READ_RETRY_SECONDS = 0.2
#: Create-or-attach rounds before giving up (each lost INSERT race costs one round).
ENSURE_ROUNDS = 5
#: Outcomes of fresh results kept for reuse (:meth:`TaskService.cached`).
OUTCOMES_KEPT = 1024


@dataclass
class _Watch:
    """Shared waiting state for one task in this process."""

    future: asyncio.Future[Outcome]
    runner: asyncio.Task[None] | None = None
    waiters: int = 0


def _insert_task(view: TaskView, *, unless_cached: bool, after: datetime | None) -> Insert:
    """``INSERT INTO tasks ... SELECT ... [WHERE NOT EXISTS (fresh cached result)]``.

    Checking the cache inside the INSERT closes the gap between "no active task, no
    cached result" and the insert: a task that finished in between (and cached its
    result) makes the insert a no-op instead of a second collection. ``after``: only a
    result collected after it counts (see :meth:`TaskService.collect`).
    """
    columns: dict[str, ColumnElement[Any]] = {
        "id": literal(view.id, String()),
        "item_id": literal(view.item_id, String()),
        "status": literal(view.status, String()),
        "attempt": literal(view.attempt, Integer()),
        "max_attempts": literal(view.max_attempts, Integer()),
        "submitted_at": literal(view.submitted_at, UtcDateTime()),
        "job_id": literal(view.job_id, String()),
    }
    rows = select(*columns.values())
    if unless_cached:
        fresh = exists().where(
            CachedResult.item_id == view.item_id, CachedResult.expires_at > view.submitted_at
        )
        if after is not None:
            fresh = fresh.where(CachedResult.fetched_at > after)
        rows = rows.where(~fresh)
    return insert(Task).from_select(list(columns), rows)


class TaskService:
    """Create, coalesce, cache and wait for collection tasks."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        notifier: Notifier,
        clock: Clock = utc_now,
        *,
        recheck_seconds: float = RECHECK_SECONDS,
        write_lock: asyncio.Lock | None = None,
        fresh_results: int = cache.FRESH_RESULTS_MAX,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._lock = write_lock
        self._settings = settings
        self._notifier = notifier
        self._clock = clock
        self._recheck = recheck_seconds
        self._watches: dict[str, _Watch] = {}
        self._fresh = cache.FreshResults(fresh_results)
        #: item id -> (the fresh result, its outcome): one Outcome per fresh result, not
        #: one per call (both are immutable; the identity check keeps it in step).
        self._outcomes: dict[str, tuple[cache.FreshResult, Outcome]] = {}

    # ------------------------------------------------------------------ public API

    async def resolve(
        self, item_id: str, *, wait_seconds: float, job_id: str | None = None
    ) -> Outcome:
        """Answer for ``item_id``: :meth:`cached`, else :meth:`collect`. ``item_id`` must
        already be valid (admission step 3)."""
        cached = self.cached(item_id)
        if cached is not None:
            return cached
        return await self.collect(item_id, wait_seconds=wait_seconds, job_id=job_id)

    def cached(self, item_id: str, *, after: datetime | None = None) -> Outcome | None:
        """The outcome of the item's fresh result in memory (no database read), or None.
        ``after``: only a result collected after it counts."""
        fresh = self._fresh.get(item_id, now_utc(self._clock), after)
        if fresh is None:
            return None
        known = self._outcomes.get(item_id)
        if known is not None and known[0] is fresh:
            return known[1]
        outcome = Outcome.cached(fresh)
        if len(self._outcomes) >= OUTCOMES_KEPT:
            self._outcomes.clear()
        self._outcomes[item_id] = (fresh, outcome)
        return outcome

    async def collect(
        self,
        item_id: str,
        *,
        wait_seconds: float,
        job_id: str | None = None,
        after: datetime | None = None,
    ) -> Outcome:
        """Answer for ``item_id`` from the database: a fresh cached row, else its (possibly
        new) task, waiting up to ``wait_seconds``. The in-memory copy is not asked (the
        caller did: :meth:`cached`). ``after``: a cached result collected before it does
        not count — the item is collected anew (a watch check must observe the item
        after its previous check, not an hour-old answer)."""
        deadline = asyncio.get_running_loop().time() + max(0.0, wait_seconds)
        view, hit = await self._ensure_task(item_id, job_id, use_cache=True, after=after)
        if hit is not None:
            return hit
        assert view is not None
        return await self._wait(view, deadline)

    async def submit(self, item_id: str, job_id: str | None = None) -> str:
        """Make sure ``item_id`` gets collected, without waiting; returns a task id.

        The id is the active task's (attached), the task that produced a fresh cached
        result, or a newly created task's.
        """
        cached = self.fresh_result(item_id) or await self._read_fresh(item_id)
        if cached is not None and cached.task_id:
            return cached.task_id
        view, _ = await self._ensure_task(item_id, job_id, use_cache=False, after=None)
        assert view is not None
        return view.id

    def fresh_result(self, item_id: str) -> cache.FreshResult | None:
        """The in-memory fresh result of ``item_id`` (no database read), or None.

        A miss says nothing: the table may still hold a fresh row (``resolve`` reads it
        and keeps a copy).
        """
        return self._fresh.get(item_id, now_utc(self._clock))

    def forget_fresh(self, item_id: str) -> None:
        """Drop the in-memory copy of ``item_id`` (a task for it finished, maybe in
        another process: the next call reads the row again)."""
        self._fresh.discard(item_id)

    async def _read_fresh(self, item_id: str) -> cache.FreshResult | None:
        now = now_utc(self._clock)
        async with self._sessionmaker() as session:
            row = await cache.read_fresh(session, item_id, now)
        return self._fresh.remember(row, now) if row is not None else None

    async def get_task(self, task_id: str) -> TaskView | None:
        """A snapshot of task ``task_id``, or None when there is no such task."""
        async with self._sessionmaker() as session:
            task = await session.get(Task, task_id)
            return TaskView.of(task) if task is not None else None

    def status_dict(self, view: TaskView) -> dict[str, object]:
        """The SPEC §2.3 status object of ``view`` with this server's settings."""
        return view.status_dict(
            retry_after=self._settings.retry_after_seconds, timezone=self._settings.timezone
        )

    # ------------------------------------------------------------ create / attach

    async def _ensure_task(
        self, item_id: str, job_id: str | None, *, use_cache: bool, after: datetime | None
    ) -> tuple[TaskView | None, Outcome | None]:
        for _ in range(ENSURE_ROUNDS):
            async with self._sessionmaker() as session:
                # A fresh result answers first (also over a task that submit() queued
                # although one existed). A task finishing after this read and before the
                # insert below is caught by the insert itself (see _insert_task).
                now = now_utc(self._clock)
                if use_cache:
                    row = await cache.read_fresh(session, item_id, now, after)
                    cached = self._fresh.remember(row, now) if row is not None else None
                    if cached is not None:
                        return None, Outcome.cached(cached)
                active = await self._active_task(session, item_id)
                if active is not None:
                    return TaskView.of(active), None
            view = TaskView(
                id=new_task_id(),
                item_id=item_id,
                status="queued",
                attempt=0,
                max_attempts=self._settings.max_attempts,
                submitted_at=now,
                started_at=None,
                finished_at=None,
                error=None,
                job_id=job_id,
            )
            late: cache.FreshResult | None = None
            async with write_gate(self._lock), self._sessionmaker() as session:
                try:
                    inserted = rowcount(
                        await session.execute(
                            _insert_task(view, unless_cached=use_cache, after=after)
                        )
                    )
                    if inserted and use_cache:
                        late = await self._fresh_since_insert(session, item_id, now, after)
                    if late is None:
                        await session.commit()
                    else:
                        await session.rollback()  # no worker ever saw the task
                except IntegrityError:
                    await session.rollback()
                    continue  # another caller created the active task first: attach to it
            if late is not None:
                return None, Outcome.cached(late)
            if not inserted:
                continue  # a task finished meanwhile and cached its result: answer from it
            await self._notifier.notify_work()
            return view, None
        raise RuntimeError(
            f"could not create or attach to a task for item {item_id} after "
            f"{ENSURE_ROUNDS} attempts (heavy contention on the tasks table); retry the call"
        )

    async def _fresh_since_insert(
        self, session: AsyncSession, item_id: str, now: datetime, after: datetime | None
    ) -> cache.FreshResult | None:
        """A fresh result that appeared while the new task's INSERT ran (before commit).

        Under READ COMMITTED (PostgreSQL) the insert's "no fresh result" check reads the
        snapshot taken when the statement began, while its unique-index check waits for
        a concurrently completing task and then passes: both can miss that task's result.
        A second statement in the same transaction reads a new snapshot, which holds the
        result if that task committed; the caller then rolls the insert back, so no
        worker can have claimed it — one task, one collection. (SQLite serialises
        writers, so it never finds one here.)
        """
        row = await cache.read_fresh(session, item_id, now, after)
        if row is None:
            return None
        return self._fresh.remember(row, now) or cache.FreshResult.of(row)

    @staticmethod
    async def _active_task(session: AsyncSession, item_id: str) -> Task | None:
        stmt = select(Task).where(Task.item_id == item_id, Task.status.in_(ACTIVE_TASK_STATUSES))
        return (await session.execute(stmt)).scalars().first()

    # -------------------------------------------------------------------- waiting

    async def _wait(self, view: TaskView, deadline: float) -> Outcome:
        loop = asyncio.get_running_loop()
        if deadline - loop.time() > 0:
            watch = self._watch_for(view)
            watch.waiters += 1
            try:
                remaining = deadline - loop.time()
                return await asyncio.wait_for(asyncio.shield(watch.future), max(remaining, 0))
            except TimeoutError:
                pass
            finally:
                watch.waiters -= 1
                if watch.waiters == 0 and self._watches.get(view.id) is watch:
                    del self._watches[view.id]
                    if watch.runner is not None and not watch.runner.done():
                        watch.runner.cancel()
        # Timed out (or no wait): answer with the task's current state.
        current, final = await self._read(view.id, view.item_id)
        if final is not None:
            return final
        return Outcome(kind="pending", task_id=view.id, status=self.status_dict(current or view))

    def _watch_for(self, view: TaskView) -> _Watch:
        watch = self._watches.get(view.id)
        if watch is not None and not watch.future.cancelled():
            return watch
        loop = asyncio.get_running_loop()
        watch = _Watch(future=loop.create_future())
        watch.runner = loop.create_task(self._run_watch(view, watch.future))
        self._watches[view.id] = watch
        return watch

    async def _run_watch(self, view: TaskView, future: asyncio.Future[Outcome]) -> None:
        """Resolve ``future`` once the task is final; read only when notified (or backstop)."""
        try:
            async with self._notifier.subscribe(view.item_id) as sub:
                while True:
                    try:
                        _, outcome = await self._read(view.id, view.item_id)
                    except Exception:  # e.g. "database is locked": try again shortly
                        log.exception("could not read task %s; retrying", view.id)
                        await asyncio.sleep(min(self._recheck, READ_RETRY_SECONDS))
                        continue
                    if outcome is not None:
                        future.set_result(outcome)
                        return
                    await sub.wait(self._recheck)
        except asyncio.CancelledError:
            future.cancel()
            raise

    async def _read(
        self, task_id: str, item_id: str | None = None
    ) -> tuple[TaskView | None, Outcome | None]:
        """The task's snapshot, and its final :class:`Outcome` if it has finished.

        A task that vanished (pruned, or deleted by hand) is answered from a fresh
        cached result of its item when there is one.
        """
        async with self._sessionmaker() as session:
            task = await session.get(Task, task_id, populate_existing=True)
            if task is None and item_id is not None:
                now = now_utc(self._clock)
                row = await cache.read_fresh(session, item_id, now)
                cached = self._fresh.remember(row, now) if row is not None else None
                if cached is not None:
                    return None, Outcome.cached(cached)
            if task is None:
                gone = Outcome(
                    kind="failed",
                    task_id=task_id,
                    error=f"task {task_id} disappeared from the database; call again",
                )
                return None, gone
            view = TaskView.of(task)
            if not view.is_final:
                return view, None
            status = self.status_dict(view)
            if view.status == "failed":
                return view, Outcome(
                    kind="failed", task_id=view.id, status=status, error=view.error
                )
            if view.status == "not_supported":
                return view, Outcome(
                    kind="not_supported", task_id=view.id, status=status, error=view.error
                )
            result = await cache.read_any(session, view.item_id)
            if result is None or result.status != "ok" or result.payload is None:
                return view, Outcome(
                    kind="failed",
                    task_id=view.id,
                    status=status,
                    error=f"task {view.id} succeeded but its result is no longer stored; "
                    "call again",
                )
            kept = self._fresh.remember(result, now_utc(self._clock))
            ready = Outcome(
                kind="ready",
                payload=result.payload,
                task_id=view.id,
                status=status,
                body=kept.payload_json if kept is not None else None,
            )
            return view, ready
