"""Claiming tasks with a lease, heartbeats, and fenced final writes.

Every claim increments ``tasks.attempt`` and stamps ``lease_owner`` and
``lease_expires_at``. Every later write of that worker (heartbeat, complete, fail,
release) is a conditional ``UPDATE ... WHERE id = :id AND status = 'running' AND
attempt = :attempt AND lease_owner = :owner`` whose row count tells whether it still
holds the task: a write from an older attempt matches no row and is refused (False).

Portable SQL only (SQLite and PostgreSQL). The claim reads a few candidates oldest
first, locks the first one it can with ``FOR UPDATE SKIP LOCKED`` (rendered on
PostgreSQL: a task another worker, in any process, is claiming right now is skipped
instead of waited for; SQLite renders nothing and has one writer anyway), and the
conditional update that follows wins; losers of a race simply try the next candidate.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jditem.server.clock import Clock, now_utc
from jditem.server.collectors.base import CollectResult
from jditem.server.store.sql import rowcount
from jditem.server.store.tables import Task
from jditem.server.tasks import cache

#: How many candidates one claim call reads before giving up (it retries on the next loop).
CLAIM_BATCH = 8


def write_gate(lock: asyncio.Lock | None) -> contextlib.AbstractAsyncContextManager[Any]:
    """``lock`` as an async context manager, or a no-op when there is none.

    On SQLite, passing the store's in-process write lock serialises this process's
    writers before they reach SQLite's busy handler.
    """
    return lock if lock is not None else contextlib.nullcontext()


@dataclass(frozen=True)
class Claim:
    """A worker's hold on one task attempt; needed for every later (fenced) write."""

    task_id: str
    item_id: str
    attempt: int
    max_attempts: int
    owner: str
    expires_at: datetime


FailResult = Literal["requeued", "failed"]


class Leases:
    """Lease operations on the ``tasks`` table; each call is one short transaction."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        lease_seconds: float,
        clock: Clock,
        write_lock: asyncio.Lock | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._lock = write_lock
        self._lease = timedelta(seconds=lease_seconds)
        self._clock = clock

    def _fence(self, claim: Claim) -> Any:
        return and_(
            Task.id == claim.task_id,
            Task.status == "running",
            Task.attempt == claim.attempt,
            Task.lease_owner == claim.owner,
        )

    async def claim(self, owner: str) -> Claim | None:
        """Claim the oldest queued task, or a running one whose lease expired.

        Expired tasks that already used ``max_attempts`` are left to
        :meth:`fail_exhausted`. Returns None when nothing is claimable right now.
        """
        now = now_utc(self._clock)
        expires = now + self._lease
        claimable = or_(
            and_(
                Task.status == "queued",
                or_(Task.not_before.is_(None), Task.not_before <= now),
            ),
            and_(
                Task.status == "running",
                Task.lease_expires_at < now,
                Task.attempt < Task.max_attempts,
            ),
        )
        columns = (Task.id, Task.item_id, Task.status, Task.attempt, Task.max_attempts)
        oldest_first = (Task.submitted_at, Task.id)
        # a cheap look first, without the write gate: idle workers poll this
        async with self._sessionmaker() as session:
            found = (await session.execute(select(Task.id).where(claimable).limit(1))).first()
        if found is None:
            return None
        async with write_gate(self._lock), self._sessionmaker() as session:
            candidates = (
                await session.execute(
                    select(*columns).where(claimable).order_by(*oldest_first).limit(CLAIM_BATCH)
                )
            ).all()
            for task_id, item_id, status, attempt, max_attempts in candidates:
                cond = [Task.id == task_id, Task.status == status, Task.attempt == attempt]
                if status == "running":
                    cond.append(Task.lease_expires_at < now)
                # FOR UPDATE SKIP LOCKED (PostgreSQL; SQLite renders neither and relies
                # on the conditional update below): a task another worker, in any
                # process, is claiming right now is skipped instead of waited for, and
                # only the task being claimed is locked.
                held = (
                    await session.execute(
                        select(Task.id).where(*cond).with_for_update(skip_locked=True)
                    )
                ).first()
                if held is None:
                    continue
                stmt = (
                    update(Task)
                    .where(*cond)
                    .values(
                        status="running",
                        attempt=attempt + 1,
                        lease_owner=owner,
                        lease_expires_at=expires,
                        started_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                if rowcount(await session.execute(stmt)) == 1:
                    await session.commit()
                    return Claim(task_id, item_id, attempt + 1, max_attempts, owner, expires)
            await session.rollback()  # lost every race: the next poll tries again
        return None

    async def _update(self, claim: Claim, **values: Any) -> bool:
        """One fenced UPDATE in its own transaction."""
        async with write_gate(self._lock), self._sessionmaker() as session:
            stmt = (
                update(Task)
                .where(self._fence(claim))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            ok = rowcount(await session.execute(stmt)) == 1
            await session.commit()
        return ok

    async def heartbeat(self, claim: Claim) -> bool:
        """Renew the lease; False when this attempt no longer holds the task."""
        return await self._update(claim, lease_expires_at=now_utc(self._clock) + self._lease)

    async def complete(
        self, claim: Claim, result: CollectResult, *, result_ttl: float, negative_ttl: float
    ) -> bool:
        """Write the final state and cache the result, fenced by ``claim``'s attempt.

        ``ok`` → task ``succeeded`` + cached for ``result_ttl`` seconds; ``not_supported``
        → task ``not_supported`` + cached for ``negative_ttl``. Both writes commit
        together, or (when a newer attempt holds the task) neither: returns False.
        """
        now = now_utc(self._clock)
        async with write_gate(self._lock), self._sessionmaker() as session:
            if result.kind == "ok":
                written = await self._finish(session, claim, now, status="succeeded")
                if written:
                    await cache.store(
                        session,
                        item_id=claim.item_id,
                        status="ok",
                        payload=result.payload,
                        task_id=claim.task_id,
                        now=now,
                        ttl_seconds=result_ttl,
                    )
            else:
                reason = result.reason or "item not supported"
                written = await self._finish(
                    session, claim, now, status="not_supported", error=reason
                )
                if written:
                    await cache.store(
                        session,
                        item_id=claim.item_id,
                        status="not_supported",
                        payload={"reason": reason},
                        task_id=claim.task_id,
                        now=now,
                        ttl_seconds=negative_ttl,
                    )
            if written:
                await session.commit()
            else:
                await session.rollback()
        return written

    async def _finish(
        self,
        session: AsyncSession,
        claim: Claim,
        now: datetime,
        *,
        status: str,
        error: str | None = None,
    ) -> bool:
        stmt = (
            update(Task)
            .where(self._fence(claim))
            .values(
                status=status,
                error=error,
                finished_at=now,
                lease_owner=None,
                lease_expires_at=None,
            )
            .execution_options(synchronize_session=False)
        )
        return rowcount(await session.execute(stmt)) == 1

    async def fail(
        self, claim: Claim, error: str, *, backoff: float = 0.0, final: bool = False
    ) -> FailResult | None:
        """Record a failed attempt: re-queue it, or fail the task after ``max_attempts``.

        A re-queued task is not claimed again for ``backoff`` seconds. ``final`` fails
        the task at once whatever attempts are left (retrying cannot help). Returns
        None when the write was refused (a newer attempt holds the task).
        """
        if final or claim.attempt >= claim.max_attempts:
            ok = await self._update(
                claim,
                status="failed",
                error=error,
                finished_at=now_utc(self._clock),
                lease_owner=None,
                lease_expires_at=None,
            )
            return "failed" if ok else None
        not_before = now_utc(self._clock) + timedelta(seconds=backoff) if backoff > 0 else None
        ok = await self._update(
            claim,
            status="queued",
            error=error,
            lease_owner=None,
            lease_expires_at=None,
            not_before=not_before,
        )
        return "requeued" if ok else None

    async def release(self, claim: Claim) -> bool:
        """Give the task back to the queue without failing it (graceful shutdown).

        ``attempt`` stays; the next claim increments it, so fencing still holds.
        """
        return await self._update(claim, status="queued", lease_owner=None, lease_expires_at=None)

    async def fail_exhausted(self) -> list[tuple[str, str]]:
        """Fail running tasks whose lease expired on their last allowed attempt.

        Returns ``(task_id, item_id)`` of each task failed here (to notify waiters).
        """
        now = now_utc(self._clock)
        async with self._sessionmaker() as session:
            rows = (
                await session.execute(
                    select(Task.id, Task.item_id, Task.attempt, Task.max_attempts).where(
                        Task.status == "running",
                        Task.lease_expires_at < now,
                        Task.attempt >= Task.max_attempts,
                    )
                )
            ).all()
        if not rows:
            return []
        failed: list[tuple[str, str]] = []
        async with write_gate(self._lock), self._sessionmaker() as session:
            for task_id, item_id, attempt, max_attempts in rows:
                stmt = (
                    update(Task)
                    .where(
                        Task.id == task_id,
                        Task.status == "running",
                        Task.attempt == attempt,
                        Task.lease_expires_at < now,
                    )
                    .values(
                        status="failed",
                        error=f"collection failed: the worker's lease expired on attempt "
                        f"{attempt} of {max_attempts}; call again to start a new task",
                        finished_at=now,
                        lease_owner=None,
                        lease_expires_at=None,
                    )
                    .execution_options(synchronize_session=False)
                )
                if rowcount(await session.execute(stmt)) == 1:
                    failed.append((task_id, item_id))
            await session.commit()
        return failed
