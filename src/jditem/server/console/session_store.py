"""Console sessions as database rows: created at sign-in, deleted at sign-out.

Only the SHA-256 of a session id is stored. A row also says who signed in (an account
member, or ``NULL`` for an operator), a random public handle shown in "your sessions"
(so one session can be ended without revealing its id), and where from. Plain
SQLAlchemy Core statements, so the same code runs on SQLite and PostgreSQL; writes go
through :meth:`Database.writing` (the in-process write lock SQLite wants).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.server.console.principal import Principal
from jditem.server.store.db import Database
from jditem.server.store.tables import Account, ConsoleSessionRow, Member


def sid_hash(sid: str) -> str:
    """The stored form of a session id."""
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


def _owned_by(member_id: int | None) -> ColumnElement[bool]:
    column = ConsoleSessionRow.member_id
    return column.is_(None) if member_id is None else column == member_id


@dataclass(frozen=True)
class SessionInfo:
    """One session as listed in "your sessions"."""

    public_id: str
    created_at: datetime
    expires_at: datetime
    client_address: str | None
    user_agent: str | None
    current: bool


async def add(
    db: Database,
    sid: str,
    now: datetime,
    max_age_seconds: int,
    *,
    member_id: int | None = None,
    client_address: str | None = None,
    user_agent: str | None = None,
) -> None:
    """Record a new session valid for ``max_age_seconds``; drop expired rows."""
    async with db.writing() as session:
        await session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.expires_at < now))
        await session.execute(
            insert(ConsoleSessionRow).values(
                sid_hash=sid_hash(sid),
                created_at=now,
                expires_at=now + timedelta(seconds=max_age_seconds),
                member_id=member_id,
                public_id=secrets.token_hex(8),
                client_address=(client_address or "")[:64] or None,
                user_agent=(user_agent or "")[:200] or None,
            )
        )


async def principal(session: AsyncSession, sid: str, now: datetime) -> Principal | None:
    """Who the session belongs to while its row exists and has not expired, else ``None``."""
    row = (
        await session.execute(
            select(
                ConsoleSessionRow.expires_at,
                ConsoleSessionRow.member_id,
                Member.role,
                Member.email,
                Member.account_id,
                Account.name,
            )
            .outerjoin(Member, Member.id == ConsoleSessionRow.member_id)
            .outerjoin(Account, Account.id == Member.account_id)
            .where(ConsoleSessionRow.sid_hash == sid_hash(sid))
        )
    ).first()
    if row is None or row.expires_at <= now:
        return None
    if row.member_id is None:
        return Principal.operator()
    if row.role is None:  # the member was removed in the meantime
        return None
    return Principal(
        role=row.role,
        member_id=row.member_id,
        account_id=row.account_id,
        account_name=row.name,
        email=row.email,
    )


async def listing(
    session: AsyncSession, member_id: int | None, current_sid: str, now: datetime
) -> list[SessionInfo]:
    """The unexpired sessions of one member (``None``: operator sessions), newest first."""
    owner = _owned_by(member_id)
    rows = await session.scalars(
        select(ConsoleSessionRow)
        .where(owner, ConsoleSessionRow.expires_at > now)
        .order_by(ConsoleSessionRow.created_at.desc())
    )
    current = sid_hash(current_sid)
    return [
        SessionInfo(
            public_id=row.public_id or "",
            created_at=row.created_at,
            expires_at=row.expires_at,
            client_address=row.client_address,
            user_agent=row.user_agent,
            current=row.sid_hash == current,
        )
        for row in rows
    ]


async def remove(db: Database, sid: str) -> None:
    """Sign-out: delete the session's row (idempotent)."""
    async with db.writing() as session:
        await session.execute(
            delete(ConsoleSessionRow).where(ConsoleSessionRow.sid_hash == sid_hash(sid))
        )


async def remove_public(db: Database, member_id: int | None, public_id: str) -> int:
    """End one session of a member (``None``: of the operator) by its public handle."""
    owner = _owned_by(member_id)
    async with db.writing() as session:
        result = await session.execute(
            delete(ConsoleSessionRow).where(owner, ConsoleSessionRow.public_id == public_id)
        )
        return int(getattr(result, "rowcount", 0) or 0)


async def remove_all(db: Database, member_id: int | None) -> int:
    """Sign out everywhere: end every session of one member (``None``: of the operator)."""
    async with db.writing() as session:
        result = await session.execute(delete(ConsoleSessionRow).where(_owned_by(member_id)))
        return int(getattr(result, "rowcount", 0) or 0)


async def remove_others(db: Database, member_id: int | None, keep_sid: str) -> int:
    """Sign out everywhere else: end every session of one member (``None``: of the
    operator) except the one with id ``keep_sid``."""
    async with db.writing() as session:
        result = await session.execute(
            delete(ConsoleSessionRow).where(
                _owned_by(member_id), ConsoleSessionRow.sid_hash != sid_hash(keep_sid)
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)
