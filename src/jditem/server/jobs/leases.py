"""Who drives a bulk job: a lease in the database, so one process runs a job at a time.

A runner takes a job's lease (``bulk_jobs.lease_owner`` / ``lease_expires_at``,
``lease_seconds`` long) before it drives the job, renews it every third of its length,
gives it back when the job ends or the process stops, and stops driving a job whose
lease it lost. A job whose lease expired — its process died — is *abandoned*: any
runner may take it over.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update

from jditem.server.clock import Clock, now_utc
from jditem.server.store.db import Database
from jditem.server.store.sql import rowcount
from jditem.server.store.tables import BulkJob

log = logging.getLogger("jditem.server.jobs")

#: Job statuses that still have items to fetch.
UNFINISHED = ("queued", "running")


def new_owner() -> str:
    """A lease owner name unique to one runner: host, process id and a random tag."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}"


class JobLeases:
    """The job leases held by one runner (``owner``)."""

    def __init__(self, db: Database, clock: Clock, lease_seconds: float, owner: str) -> None:
        self._db = db
        self._clock = clock
        self.owner = owner
        self.length = timedelta(seconds=lease_seconds)

    def _takeable(self) -> ColumnElement[bool]:
        """An unfinished job nobody drives: no lease, ours, or an expired one."""
        return BulkJob.status.in_(UNFINISHED) & or_(
            BulkJob.lease_owner.is_(None),
            BulkJob.lease_owner == self.owner,
            BulkJob.lease_expires_at < now_utc(self._clock),
        )

    async def takeable(self) -> list[str]:
        """The ids of the unfinished jobs this runner may take."""
        async with self._db.reading() as session:
            return list((await session.scalars(select(BulkJob.id).where(self._takeable()))).all())

    async def acquire(self, job_id: str) -> bool:
        """Take (or renew) the job's lease unless another live process holds it."""
        expires = now_utc(self._clock) + self.length
        async with self._db.writing() as session:
            result = await session.execute(
                update(BulkJob)
                .where(BulkJob.id == job_id, self._takeable())
                .values(lease_owner=self.owner, lease_expires_at=expires)
                .execution_options(synchronize_session=False)
            )
        return rowcount(result) == 1

    async def renew(self, job_id: str) -> bool:
        """Extend this runner's lease; False when it no longer holds it."""
        async with self._db.writing() as session:
            result = await session.execute(
                update(BulkJob)
                .where(BulkJob.id == job_id, BulkJob.lease_owner == self.owner)
                .values(lease_expires_at=now_utc(self._clock) + self.length)
                .execution_options(synchronize_session=False)
            )
        return rowcount(result) == 1

    async def release(self, job_id: str) -> None:
        """Give the lease back (the job may be taken at once by any runner)."""
        async with self._db.writing() as session:
            await session.execute(
                update(BulkJob)
                .where(BulkJob.id == job_id, BulkJob.lease_owner == self.owner)
                .values(lease_owner=None, lease_expires_at=None)
                .execution_options(synchronize_session=False)
            )

    async def hold(self, job_id: str, driver: asyncio.Task[Any]) -> None:
        """Renew the lease every third of it; cancel ``driver`` once the lease is lost."""
        interval = self.length.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            try:
                held = await self.renew(job_id)
            except Exception:
                log.warning("could not renew the lease of bulk job %s", job_id, exc_info=True)
                continue
            if not held:
                log.warning("bulk job %s: lease lost to another process; stopping here", job_id)
                driver.cancel()
                return
