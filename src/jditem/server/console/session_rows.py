"""Console sessions as database rows: created at sign-in, deleted at sign-out.

Only the SHA-256 of a session id is stored. Plain SQLAlchemy Core statements, so the
same code runs on SQLite and PostgreSQL; writes go through :meth:`Database.writing`
(the in-process write lock SQLite wants).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.server.store.db import Database
from jditem.server.store.tables import ConsoleSessionRow


def sid_hash(sid: str) -> str:
    """The stored form of a session id."""
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


async def add(db: Database, sid: str, now: datetime, max_age_seconds: int) -> None:
    """Record a new session valid for ``max_age_seconds``; drop expired rows."""
    async with db.writing() as session:
        await session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.expires_at < now))
        await session.execute(
            insert(ConsoleSessionRow).values(
                sid_hash=sid_hash(sid),
                created_at=now,
                expires_at=now + timedelta(seconds=max_age_seconds),
            )
        )


async def is_active(session: AsyncSession, sid: str, now: datetime) -> bool:
    """True while the session's row exists and has not expired."""
    expires = await session.scalar(
        select(ConsoleSessionRow.expires_at).where(ConsoleSessionRow.sid_hash == sid_hash(sid))
    )
    if expires is None:
        return False
    if expires.tzinfo is None:  # SQLite hands back naive UTC
        expires = expires.replace(tzinfo=now.tzinfo)
    return bool(expires > now)


async def remove(db: Database, sid: str) -> None:
    """Sign-out: delete the session's row (idempotent)."""
    async with db.writing() as session:
        await session.execute(
            delete(ConsoleSessionRow).where(ConsoleSessionRow.sid_hash == sid_hash(sid))
        )


async def remove_all(db: Database) -> int:
    """Sign everybody out; returns how many sessions ended."""
    async with db.writing() as session:
        result = await session.execute(delete(ConsoleSessionRow))
        return int(getattr(result, "rowcount", 0) or 0)
