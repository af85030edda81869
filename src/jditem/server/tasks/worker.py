"""WorkerPool: N asyncio workers that claim tasks, collect, and finish them fenced.

Each worker loops: claim a task (:class:`~jditem.server.tasks.leases.Leases`), run the
collector while renewing the lease every ``heartbeat_seconds``, then write the result
with attempt fencing and notify waiters. An idle worker sleeps on the notifier's
"work queued" channel (the task service signals every new task; each signal wakes one
worker, which passes it on after a successful claim), with ``worker_poll_seconds`` as
the fallback poll. Idle workers share that poll: within ``worker_poll_seconds`` of one
worker's look for work, the others' fallback polls do not look again (a worker woken by
a signal, or done with a task, always looks) — so an idle pool looks about once per
``worker_poll_seconds``, not once per worker. A reaper fails tasks whose lease expired
on their last attempt.

A worker that dies mid-task (process killed) simply stops heartbeating: its lease
expires and the next claim takes the task with ``attempt + 1``; anything the dead
attempt writes later is refused. On :meth:`WorkerPool.stop` the workers finish the
task in hand for up to ``stop_timeout`` seconds; tasks still running are cancelled
and given back to the queue (their lease released) so another process can take
them without waiting for the lease to expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jditem.server.clock import Clock, utc_now
from jditem.server.collectors.base import CollectError, Collector, CollectResult
from jditem.server.settings import Settings
from jditem.server.shared.notify import Notifier
from jditem.server.tasks.leases import Claim, Leases

log = logging.getLogger(__name__)

#: Bound on each database write made while shutting down (release of a cancelled task).
SHUTDOWN_WRITE_SECONDS = 2.0


def _owner_prefix() -> str:
    host = socket.gethostname()[:32]
    return f"{host}:{os.getpid()}:{secrets.token_hex(3)}"


class WorkerPool:
    """In-process collection workers (``settings.workers`` of them)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        collector: Collector,
        notifier: Notifier,
        clock: Clock = utc_now,
        *,
        stop_timeout: float = 5.0,
        write_lock: asyncio.Lock | None = None,
    ) -> None:
        self._settings = settings
        self._collector = collector
        self._notifier = notifier
        self._leases = Leases(
            sessionmaker,
            lease_seconds=settings.lease_seconds,
            clock=clock,
            write_lock=write_lock,
        )
        if settings.heartbeat_seconds >= settings.lease_seconds:
            log.warning(
                "heartbeat_seconds (%g) is not shorter than lease_seconds (%g): leases will "
                "expire between heartbeats and tasks may be collected twice; set "
                "JDITEM_HEARTBEAT_SECONDS to about a third of JDITEM_LEASE_SECONDS",
                settings.heartbeat_seconds,
                settings.lease_seconds,
            )
        self._stop_timeout = stop_timeout
        self._prefix = _owner_prefix()
        self._workers: list[asyncio.Task[None]] = []
        self._reaper: asyncio.Task[None] | None = None
        self._idle: set[int] = set()
        self._stopping = False
        #: (monotonic time, worker): until then the other workers' fallback polls skip
        #: their look, as this worker looked for work last.
        self._looked: tuple[float, int] = (0.0, -1)

    @property
    def leases(self) -> Leases:
        """The lease operations this pool uses (shared clock and lease length)."""
        return self._leases

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return bool(self._workers) and not self._stopping

    async def start(self) -> None:
        """Start ``settings.workers`` workers and the reaper (idempotent)."""
        if self._workers:
            return
        self._stopping = False
        loop = asyncio.get_running_loop()
        for index in range(self._settings.workers):
            task = loop.create_task(self._work(index), name=f"jditem-worker-{index}")
            self._workers.append(task)
        if self._settings.workers:
            self._reaper = loop.create_task(self._reap(), name="jditem-reaper")

    async def stop(self) -> None:
        """Stop gracefully: idle workers at once, busy ones after their task (bounded)."""
        self._stopping = True
        workers, self._workers = self._workers, []
        if self._reaper is not None:
            self._reaper.cancel()
            workers.append(self._reaper)
            self._reaper = None
        for index, task in enumerate(workers):
            if index in self._idle:  # asleep between claims: nothing to finish
                task.cancel()
        if not workers:
            return
        _, pending = await asyncio.wait(workers, timeout=self._stop_timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=SHUTDOWN_WRITE_SECONDS + 1)

    # ----------------------------------------------------------------- the loops

    async def _work(self, index: int) -> None:
        owner = f"{self._prefix}:w{index}"
        poll = self._settings.worker_poll_seconds
        look = True  # at start, after a signal or a task: look for work
        async with self._notifier.subscribe_work() as wake:
            while not self._stopping:
                claim = None
                until, looker = self._looked
                if look or looker == index or time.monotonic() >= until:
                    # meanwhile the other idle workers' fallback polls skip their look
                    self._looked = (time.monotonic() + poll, index)
                    try:
                        claim = await self._leases.claim(owner)
                    except Exception:
                        log.exception(
                            "worker %s could not claim a task; retrying in %.1fs", owner, poll
                        )
                if claim is None:
                    self._idle.add(index)
                    try:
                        look = await wake.wait(poll)
                    finally:
                        self._idle.discard(index)
                    continue
                look = True
                # Pass the wake-up on: more work may be queued behind this task.
                await self._notifier.notify_work()
                await self._process(claim)

    async def _reap(self) -> None:
        while True:
            try:
                for _task_id, item_id in await self._leases.fail_exhausted():
                    await self._notifier.notify(item_id)
            except Exception:
                log.exception("reaper could not fail exhausted tasks; retrying")
            await asyncio.sleep(self._settings.worker_poll_seconds)

    # ------------------------------------------------------------- one attempt

    async def _process(self, claim: Claim) -> None:
        collect = asyncio.create_task(self._collect(claim.item_id))
        try:
            held = await self._supervise(claim, collect)
        except asyncio.CancelledError:
            collect.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._leases.release(claim), SHUTDOWN_WRITE_SECONDS)
            raise
        if not held:
            return
        try:
            result = collect.result()
        except CollectError as exc:
            await self._failed(claim, str(exc), final=exc.final)
            return
        except Exception as exc:
            log.exception("collector crashed on item %s (task %s)", claim.item_id, claim.task_id)
            await self._failed(claim, f"collector error {type(exc).__name__}: {exc}")
            return
        await self._completed(claim, result)

    async def _collect(self, item_id: str) -> CollectResult:
        """The collector's answer, bounded by ``collect_timeout_seconds``."""
        limit = self._settings.collect_timeout_seconds
        if self._settings.collector == "relay":  # an upstream task may stay pending long
            limit += self._settings.upstream_deadline_seconds
        try:
            async with asyncio.timeout(limit):
                return await self._collector.collect(item_id)
        except TimeoutError:
            raise CollectError(
                f"the collector took longer than {limit:g} s (collect_timeout_seconds)"
            ) from None

    async def _supervise(self, claim: Claim, collect: asyncio.Task[CollectResult]) -> bool:
        """Heartbeat until ``collect`` ends; False if the lease was lost meanwhile."""
        while True:
            done, _ = await asyncio.wait({collect}, timeout=self._settings.heartbeat_seconds)
            if done:
                return True
            try:
                held = await self._leases.heartbeat(claim)
            except Exception:
                log.exception("heartbeat for task %s failed; will retry", claim.task_id)
                continue
            if not held:
                log.warning(
                    "task %s attempt %d lost its lease (a newer attempt took it); abandoning",
                    claim.task_id,
                    claim.attempt,
                )
                collect.cancel()
                with contextlib.suppress(BaseException):
                    await collect
                return False

    async def _completed(self, claim: Claim, result: CollectResult) -> None:
        try:
            written = await self._leases.complete(
                claim,
                result,
                result_ttl=self._settings.result_ttl_seconds,
                negative_ttl=self._settings.negative_ttl_seconds,
            )
        except Exception:
            log.exception("could not store the result of task %s", claim.task_id)
            await self._failed(claim, "collected, but the result could not be stored")
            return
        if written:
            await self._notifier.notify(claim.item_id)
        else:
            log.warning("task %s attempt %d: late result refused", claim.task_id, claim.attempt)

    def backoff(self, attempt: int) -> float:
        """Seconds before a failed attempt's task may be claimed again (jittered).

        ``retry_backoff_seconds * 2**(attempt-1)``, capped at
        ``retry_backoff_max_seconds``, times a jitter in [0.5, 1): a failing source is
        not hammered at once by every worker.
        """
        base = self._settings.retry_backoff_seconds
        if base <= 0:
            return 0.0
        cap = self._settings.retry_backoff_max_seconds
        return float(
            min(cap, base * 2.0 ** max(0, min(attempt - 1, 30))) * random.uniform(0.5, 1.0)
        )

    async def _failed(self, claim: Claim, reason: str, *, final: bool = False) -> None:
        error = f"collection failed on attempt {claim.attempt} of {claim.max_attempts}: {reason}"
        try:
            outcome = await self._leases.fail(
                claim, error, backoff=self.backoff(claim.attempt), final=final
            )
        except Exception:
            log.exception("could not record the failure of task %s", claim.task_id)
            return  # the lease expires; the next claim retries the task
        if outcome == "failed":
            await self._notifier.notify(claim.item_id)
        elif outcome == "requeued":
            await self._notifier.notify_work()
