"""Bulk jobs run in the server process: every item goes through admission.

A job is a list of item ids charged to one token. :class:`JobRunner` runs each job as
a background asyncio task with a few concurrent lanes; each lane calls
``admission.answer`` for its item exactly as the v2 endpoint would (rate limit, daily
quota, budget, balance, charging, call records), re-asks pending items after
``retryAfter``, waits out 302s, retries 301/500 a bounded number of times, and stops
the whole job on a fatal code (100, 303, 600, 601, 602): later calls could not succeed.

One process drives a job at a time, by its lease (:mod:`.leases`). Every runner looks,
every half lease, for unfinished jobs nobody drives — left by a previous start, or by a
process that died — and takes them over; charges already made are not repeated (each
item's charge has a stable idempotency key) and stay in the job's totals (they were
added in the charge's own transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update

from jditem.protocol.codes import Code, RetryClass
from jditem.server.admission.answers import Answer
from jditem.server.admission.call import JobOrigin
from jditem.server.admission.pipeline import Admission
from jditem.server.clock import Clock, now_utc
from jditem.server.ids import new_request_id, new_ulid
from jditem.server.jobs.leases import UNFINISHED, JobLeases, new_owner
from jditem.server.settings import Settings
from jditem.server.store.db import Database
from jditem.server.store.tables import BulkJob, BulkJobItem

log = logging.getLogger("jditem.server.jobs")

#: Items fetched at the same time within one job.
LANES = 4
#: Attempts for an item answered 301/500 before it is marked failed.
MAX_TRANSIENT = 3
#: Upper bound of any single wait (seconds) between calls for one item.
MAX_SLEEP = 120.0
#: Item states that are final.
FINAL_ITEM_STATES = ("succeeded", "not_supported", "failed", "skipped")


class _JobStopped(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Stop:
    """Shared by a job's lanes: set when a fatal answer stops the job."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    reason: _JobStopped | None = None


@dataclass
class _ItemState:
    row_id: int
    item_id: str
    transient: int = 0


def _retry_after(answer: Answer, default: float) -> float:
    raw = answer.headers.get("Retry-After")
    try:
        seconds = float(raw) if raw is not None else default
    except ValueError:
        seconds = default
    return min(max(seconds, 0.0), MAX_SLEEP)


class JobRunner:
    """Starts, resumes and stops bulk jobs in this process."""

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
        self._running: dict[str, asyncio.Task[None]] = {}
        self.leases = JobLeases(db, clock, settings.lease_seconds, owner or new_owner())
        self._watcher: asyncio.Task[None] | None = None

    def is_running(self, job_id: str) -> bool:
        """True while this process is working on ``job_id``."""
        return job_id in self._running

    def start(self, job_id: str) -> None:
        """Run ``job_id`` in the background (no-op if it is already running)."""
        if job_id in self._running:
            return
        task = asyncio.get_running_loop().create_task(self._run(job_id), name=f"job-{job_id}")
        self._running[job_id] = task
        task.add_done_callback(lambda _t: self._running.pop(job_id, None))

    async def resume_unfinished(self) -> int:
        """Start the unfinished jobs nobody drives (no lease, or an expired one).

        Returns how many were started here (each still has to win its lease).
        """
        started = [job_id for job_id in await self.leases.takeable() if job_id not in self._running]
        for job_id in started:
            self.start(job_id)
        return len(started)

    def watch(self) -> None:
        """Take over, every half lease, the jobs whose driving process died."""
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(
                self._watch(), name="job-lease-watch"
            )

    async def _watch(self) -> None:
        interval = max(self.leases.length.total_seconds() / 2, 0.05)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.resume_unfinished()
            except Exception:  # the database may be briefly unavailable: look again later
                log.warning("could not look for abandoned bulk jobs", exc_info=True)

    async def create(self, token_id: int, name: str, item_ids: list[str]) -> str:
        """Store a new job of ``item_ids`` for ``token_id`` and start it; returns its id."""
        job_id = "j_" + new_ulid()
        now = now_utc(self._clock)
        async with self._db.writing() as session:
            session.add(
                BulkJob(
                    id=job_id,
                    token_id=token_id,
                    name=name,
                    status="queued",
                    total=len(item_ids),
                    created_at=now,
                )
            )
            await session.flush()
            await session.execute(
                insert(BulkJobItem),
                [
                    {
                        "job_id": job_id,
                        "position": position,
                        "item_id": item_id,
                        "state": "waiting",
                        "calls": 0,
                        "charged": 0,
                    }
                    for position, item_id in enumerate(item_ids)
                ],
            )
        self.start(job_id)
        return job_id

    async def resume(self, job_id: str) -> bool:
        """Fetch the skipped items of a stopped job again (e.g. after a top-up)."""
        async with self._db.writing() as session:
            job = await session.get(BulkJob, job_id)
            if job is None or job.status != "stopped":
                return False
            job.status = "queued"
            job.stop_reason = None
            job.finished_at = None
            await session.execute(
                update(BulkJobItem)
                .where(BulkJobItem.job_id == job_id, BulkJobItem.state == "skipped")
                .values(state="waiting")
            )
        self.start(job_id)
        return True

    async def stop(self) -> None:
        """Cancel running jobs (their leases are given back; they resume at the next
        start, or in another process) and wait for them."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, job_id: str) -> None:
        if not await self.leases.acquire(job_id):
            return  # another process drives it
        driver = asyncio.current_task()
        assert driver is not None
        holder = asyncio.get_running_loop().create_task(self.leases.hold(job_id, driver))
        try:
            await self._execute(job_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("bulk job %s crashed", job_id)
            await self._finish(job_id, "stopped", f"internal error: {type(exc).__name__}")
        finally:
            holder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await holder
            with contextlib.suppress(Exception):  # it expires anyway
                await self.leases.release(job_id)

    async def _execute(self, job_id: str) -> None:
        async with self._db.writing() as session:
            job = await session.get(BulkJob, job_id)
            if job is None or job.status not in UNFINISHED:
                return
            token_id = job.token_id
            job.status = "running"
            job.started_at = job.started_at or now_utc(self._clock)
            rows = (
                await session.execute(
                    select(BulkJobItem.id, BulkJobItem.item_id)
                    .where(
                        BulkJobItem.job_id == job_id,
                        BulkJobItem.state.not_in(FINAL_ITEM_STATES),
                    )
                    .order_by(BulkJobItem.position)
                )
            ).all()
        queue: asyncio.Queue[_ItemState] = asyncio.Queue()
        for row_id, item_id in rows:
            queue.put_nowait(_ItemState(row_id, item_id))
        stop = _Stop()
        await asyncio.gather(
            *(
                self._lane(job_id, token_id, queue, stop)
                for _ in range(min(LANES, max(queue.qsize(), 1)))
            )
        )
        if stop.reason is not None:
            await self._skip_rest(job_id, stop.reason)
            await self._finish(job_id, "stopped", f"{stop.reason.code}: {stop.reason.message}")
            return
        await self._finish(job_id, "done", None)

    async def _lane(
        self, job_id: str, token_id: int, queue: asyncio.Queue[_ItemState], stop: _Stop
    ) -> None:
        while not stop.event.is_set():
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                await self._fetch(job_id, token_id, item, stop)
            except _JobStopped as stopped:
                stop.reason = stop.reason or stopped
                stop.event.set()

    async def _fetch(self, job_id: str, token_id: int, item: _ItemState, stop: _Stop) -> None:
        """Call admission for one item until it is final (or the job stops).

        A lane always finishes the call it is making: a call is never cut off midway.
        """
        while not stop.event.is_set():
            identity = await self._admission.identity_for_token(token_id)
            answer = await self._admission.answer(
                identity,
                item.item_id,
                new_request_id(),
                wait_seconds=self._settings.wait_seconds,
                # stable per job item: a restart mid-job never pays for an item twice
                idempotency_key=f"console-{job_id}-{item.row_id}",
                origin=JobOrigin(job_id, item.row_id),
            )
            state, sleep = self._classify(answer, item)
            await self._save(item, answer, state)
            if answer.code.retry is RetryClass.FATAL:
                raise _JobStopped(int(answer.code), answer.message)
            if state in FINAL_ITEM_STATES:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.event.wait(), timeout=sleep)

    def _classify(self, answer: Answer, item: _ItemState) -> tuple[str, float]:
        """The item's new state and, if it is not final, how long to wait first."""
        code = answer.code
        default_wait = float(self._settings.retry_after_seconds)
        if code is Code.SUCCESS:
            return "succeeded", 0.0
        if code.retry is RetryClass.FATAL:
            return "skipped", 0.0  # the job stops; a resume fetches it again
        if code.retry is RetryClass.POLL:
            return "pending", _retry_after(answer, default_wait)
        if code.retry is RetryClass.THROTTLE:
            return "waiting", _retry_after(answer, 1.0)
        if code.retry is RetryClass.RETRY:
            item.transient += 1
            if item.transient >= MAX_TRANSIENT:
                return "failed", 0.0
            return "waiting", min(2.0**item.transient, MAX_SLEEP)
        if code is Code.NOT_SUPPORTED:
            return "not_supported", 0.0
        return "failed", 0.0  # 400 and anything unexpected; fatal codes stop the job

    async def _save(self, item: _ItemState, answer: Answer, state: str) -> None:
        payload: dict[str, Any] | None = None
        if answer.code is Code.SUCCESS and isinstance(answer.data, dict):
            payload = answer.data
        values: dict[str, Any] = {
            "state": state,
            "code": int(answer.code),
            "message": answer.message,
            "calls": BulkJobItem.calls + 1,
            # no "charged" here: the charge's transaction already added it (job_item_id)
            "updated_at": now_utc(self._clock),
        }
        if answer.task_id:
            values["task_id"] = answer.task_id
        if payload is not None:
            values["payload"] = payload
        async with self._db.writing() as session:
            await session.execute(
                update(BulkJobItem).where(BulkJobItem.id == item.row_id).values(**values)
            )

    async def _skip_rest(self, job_id: str, stopped: _JobStopped) -> None:
        """Mark every unfinished item skipped, naming the code that stopped the job."""
        async with self._db.writing() as session:
            await session.execute(
                update(BulkJobItem)
                .where(
                    BulkJobItem.job_id == job_id,
                    BulkJobItem.state.not_in(FINAL_ITEM_STATES),
                )
                .values(
                    state="skipped",
                    message=f"not fetched: the job stopped on code {stopped.code}",
                    updated_at=now_utc(self._clock),
                )
            )

    async def _finish(self, job_id: str, status: str, reason: str | None) -> None:
        async with self._db.writing() as session:
            await session.execute(
                update(BulkJob)
                .where(BulkJob.id == job_id)
                .values(
                    status=status,
                    stop_reason=reason,
                    finished_at=now_utc(self._clock),
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
