"""A role one process of a deployment plays at a time, by a lease in the database.

Like a bulk job's lease (:mod:`.leases`), for a role rather than a job: the holder
(``owner``) writes ``singleton_leases.expires_at`` = now + ``lease_seconds`` and renews
it every third of that; any other process may take the role once the lease has expired
— its holder died (kill -9) or lost the database — so a takeover happens within one
lease. Taking and renewing are conditional updates (or an insert that fails when
another process inserted first), so two processes never both hold it.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from jditem.server.clock import Clock, now_utc
from jditem.server.store.db import Database
from jditem.server.store.sql import rowcount
from jditem.server.store.watch_tables import SingletonLease


class RoleLease:
    """The lease of role ``name`` as seen by one process (``owner``)."""

    def __init__(
        self, db: Database, clock: Clock, name: str, owner: str, lease_seconds: float
    ) -> None:
        self._db = db
        self._clock = clock
        self.name = name
        self.owner = owner
        self.length = timedelta(seconds=lease_seconds)

    async def acquire(self) -> bool:
        """Take or renew the role unless another live process holds it."""
        now = now_utc(self._clock)
        expires = now + self.length
        async with self._db.writing() as session:
            taken = rowcount(
                await session.execute(
                    update(SingletonLease)
                    .where(
                        SingletonLease.name == self.name,
                        or_(SingletonLease.owner == self.owner, SingletonLease.expires_at < now),
                    )
                    .values(owner=self.owner, expires_at=expires)
                    .execution_options(synchronize_session=False)
                )
            )
            if taken == 1:
                return True
            held = await session.scalar(
                select(SingletonLease.owner).where(SingletonLease.name == self.name)
            )
        if held is not None:
            return False
        try:
            async with self._db.writing() as session:
                await session.execute(
                    insert(SingletonLease).values(
                        name=self.name, owner=self.owner, expires_at=expires
                    )
                )
        except IntegrityError:  # someone holds it (or inserted it first)
            return False
        return True

    async def release(self) -> None:
        """Give the role up (another process may take it at once)."""
        async with self._db.writing() as session:
            await session.execute(
                delete(SingletonLease).where(
                    SingletonLease.name == self.name, SingletonLease.owner == self.owner
                )
            )
