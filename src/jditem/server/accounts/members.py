"""Account members: the people who sign in to the console for one account (SPEC §2.9).

An operator (or an account's owner) adds a member by e-mail; the member gets a
one-time set-password link, valid for :data:`SETUP_LINK_TTL`, and from then on signs in
with e-mail and password (hashed by :mod:`.passwords`); only the SHA-256 of a link's
secret is stored. Roles: ``owner`` manages the account's tokens and members; ``member`` manages
the tokens it created itself; both within the caps the operator set on the account
(:mod:`.caps`).

Functions that act on behalf of a member take ``account_id``: an object of another
account then raises :class:`NotFoundError`, exactly like one that does not exist.
Like :mod:`.service`, every function commits its own transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.server.accounts.errors import ConflictError, InvalidInputError, NotFoundError
from jditem.server.accounts.names import unsafe_character
from jditem.server.accounts.passwords import (
    MAX_PASSWORD_LENGTH,
    check_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from jditem.server.accounts.service import account_by_name
from jditem.server.clock import Clock, now_utc, utc_now
from jditem.server.store.tables import Account, ApiToken, ConsoleSessionRow, Member
from jditem.server.store.webhook_tables import WebhookEndpointRow

ROLES = ("owner", "member")
SETUP_LINK_TTL = timedelta(days=7)
MAX_EMAIL_LENGTH = 254


class WrongPasswordError(InvalidInputError):
    """The current password given to confirm a change is not the member's."""


class MemberPublic(BaseModel):
    """A member as shown to people (never the password hash or link secret)."""

    id: int
    account_id: int
    account: str
    email: str
    role: str
    has_password: bool
    created_at: datetime
    password_changed_at: datetime | None = None


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _public(row: Member, account_name: str) -> MemberPublic:
    return MemberPublic(
        id=row.id,
        account_id=row.account_id,
        account=account_name,
        email=row.email,
        role=row.role,
        has_password=row.password_hash is not None,
        created_at=row.created_at,
        password_changed_at=row.password_changed_at,
    )


def normalize_email(raw: str) -> str:
    """The stored form of an e-mail address (trimmed, lower-case), or InvalidInputError."""
    email = raw.strip().lower()
    local, at, domain = email.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain.strip(".")
        or len(email) > MAX_EMAIL_LENGTH
        or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in email)
    ):
        raise InvalidInputError(
            f"{raw.strip()[:80]!r} is not an e-mail address; give one like alice@example.com"
        )
    return email


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(ROLES)} (got {role!r})")
    return role


def _with_account() -> Select[Member, str]:
    """Members with their account's name."""
    return select(Member, Account.name).join(Account, Account.id == Member.account_id)


async def _by_email(session: AsyncSession, address: str) -> tuple[Member, str] | None:
    row = (await session.execute(_with_account().where(Member.email == address))).first()
    return (row[0], row[1]) if row is not None else None


async def _member(
    session: AsyncSession, member_id: int, account_id: int | None
) -> tuple[Member, str]:
    query = _with_account().where(Member.id == member_id)
    if account_id is not None:
        query = query.where(Member.account_id == account_id)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFoundError(f"no member with id {member_id}; see the members list")
    return row[0], row[1]


def _new_setup_secret(member: Member, now: datetime) -> str:
    secret = secrets.token_urlsafe(32)
    member.setup_hash = _secret_hash(secret)
    member.setup_expires_at = now + SETUP_LINK_TTL
    return secret


async def add_member(
    session: AsyncSession,
    email: str,
    account_name: str,
    role: str = "member",
    *,
    clock: Clock = utc_now,
) -> tuple[MemberPublic, str]:
    """Add a member to ``account_name``; returns it and its set-password link secret.

    The secret is returned only here (only its hash is stored); turn it into a link
    with :func:`setup_path`.
    """
    address = normalize_email(email)
    bad = unsafe_character(address)
    if bad is not None:  # checked for new addresses only: existing ones stay reachable
        raise InvalidInputError(
            f"{address[:80]!r} is not an e-mail address: it contains {bad}; type it again"
        )
    _check_role(role)
    account = await account_by_name(session, account_name)
    taken = await session.scalar(select(Member.id).where(Member.email == address))
    if taken is not None:
        raise ConflictError(f"{address} is already a member; reset its password instead")
    now = now_utc(clock)
    member = Member(account_id=account.id, email=address, role=role, created_at=now)
    secret = _new_setup_secret(member, now)
    session.add(member)
    await session.commit()
    return _public(member, account.name), secret


def setup_path(secret: str) -> str:
    """The console path of a set-password link (append it to the server's base URL)."""
    return f"/console/set-password?key={secret}"


async def list_members(session: AsyncSession, account_id: int | None = None) -> list[MemberPublic]:
    """Members of one account (or of all accounts), by account and e-mail."""
    query = _with_account()
    if account_id is not None:
        query = query.where(Member.account_id == account_id)
    rows = (await session.execute(query.order_by(Account.name, Member.email))).all()
    return [_public(member, name) for member, name in rows]


async def find_member(session: AsyncSession, email: str) -> MemberPublic:
    """A member by e-mail address."""
    address = normalize_email(email)
    row = await _by_email(session, address)
    if row is None:
        raise NotFoundError(f"no member with e-mail {address}; see `jditem admin member list`")
    return _public(row[0], row[1])


async def _end_sessions(session: AsyncSession, member_id: int) -> None:
    await session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.member_id == member_id))


async def reset_password(
    session: AsyncSession,
    member_id: int,
    account_id: int | None = None,
    *,
    clock: Clock = utc_now,
) -> tuple[MemberPublic, str]:
    """Issue a new set-password link; the old password and sessions stop working now."""
    member, name = await _member(session, member_id, account_id)
    secret = _new_setup_secret(member, now_utc(clock))
    member.password_hash = None
    await _end_sessions(session, member.id)
    await session.commit()
    return _public(member, name), secret


async def member_for_link(
    session: AsyncSession, secret: str, *, clock: Clock = utc_now
) -> MemberPublic | None:
    """The member a still-valid set-password link belongs to, else ``None``."""
    if not secret or len(secret) > 200:
        return None
    row = (
        await session.execute(_with_account().where(Member.setup_hash == _secret_hash(secret)))
    ).first()
    if row is None:
        return None
    member, name = row
    expires = member.setup_expires_at
    if expires is None or expires <= now_utc(clock):
        return None
    return _public(member, name)


_USED_LINK = (
    "this set-password link is unknown, used or expired; ask your account's owner or the "
    "operator for a new one"
)


async def set_password_with_link(
    session: AsyncSession, secret: str, password: str, *, clock: Clock = utc_now
) -> MemberPublic:
    """Set the password through a one-time link; the link then stops working, and every
    session of the member ends.

    One-time under any concurrency: the password is written by one conditional update
    (``WHERE setup_hash = <this link>``, which also clears the link), so of several
    submissions of one link exactly one succeeds and the others get NotFoundError.
    """
    check_password(password)
    found = await member_for_link(session, secret, clock=clock)
    await session.rollback()  # no read transaction held across the slow hash (SQLite)
    if found is None:
        raise NotFoundError(_USED_LINK)
    password_hash = await hash_password(password)
    result = await session.execute(
        update(Member)
        .where(Member.id == found.id, Member.setup_hash == _secret_hash(secret))
        .values(
            password_hash=password_hash,
            password_changed_at=now_utc(clock),
            setup_hash=None,
            setup_expires_at=None,
        )
    )
    if getattr(result, "rowcount", 0) != 1:  # another submission of the link won
        await session.rollback()
        raise NotFoundError(_USED_LINK)
    await _end_sessions(session, found.id)
    await session.commit()
    return _public(*await _member(session, found.id, None))


async def authenticate(session: AsyncSession, email: str, password: str) -> MemberPublic | None:
    """The member with this e-mail and password, else ``None`` (same cost either way)."""
    try:
        address = normalize_email(email)
    except InvalidInputError:
        address = ""
    row = None
    if address and len(password) <= MAX_PASSWORD_LENGTH:
        row = await _by_email(session, address)
    stored = row[0].password_hash if row is not None else None
    ok = await verify_password(stored, password)
    if row is None or stored is None or not ok:
        return None
    member, name = row
    if needs_rehash(stored):
        member.password_hash = await hash_password(password)
        await session.commit()
    return _public(member, name)


async def change_password(
    session: AsyncSession, member_id: int, current: str, new: str, *, clock: Clock = utc_now
) -> MemberPublic:
    """A member changes its own password; every session of the member ends, the one the
    change was made from included (the console then starts a new one: the session id
    rotates, so a session id learned before the change is worth nothing after it).

    The new hash replaces the one the current password was checked against, by one
    conditional update: a reset or another change in between wins, and this one fails.
    """
    member, _ = await _member(session, member_id, None)
    stored = member.password_hash
    await session.rollback()  # no read transaction held across the slow hashes (SQLite)
    if stored is None or not await verify_password(stored, current):
        raise WrongPasswordError("the current password is not right; type it again")
    check_password(new)
    if new == current:
        raise InvalidInputError("the new password is the current one; choose a different one")
    new_hash = await hash_password(new)
    result = await session.execute(
        update(Member)
        .where(Member.id == member_id, Member.password_hash == stored)
        .values(password_hash=new_hash, password_changed_at=now_utc(clock))
    )
    if getattr(result, "rowcount", 0) != 1:
        await session.rollback()
        raise InvalidInputError(
            "the password was changed or reset meanwhile; sign in again and retry"
        )
    await _end_sessions(session, member_id)
    await session.commit()
    return _public(*await _member(session, member_id, None))


async def _owners(session: AsyncSession, account_id: int) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Member)
        .where(Member.account_id == account_id, Member.role == "owner")
    )
    return int(count or 0)


async def set_role(
    session: AsyncSession, member_id: int, role: str, account_id: int | None = None
) -> MemberPublic:
    """Make a member an owner or a plain member (an account keeps at least one owner
    when changed by one of its owners)."""
    _check_role(role)
    member, name = await _member(session, member_id, account_id)
    if (
        account_id is not None
        and member.role == "owner"
        and role != "owner"
        and await _owners(session, member.account_id) <= 1
    ):
        raise InvalidInputError("an account needs an owner; make another member owner first")
    member.role = role
    await session.commit()
    return _public(member, name)


async def remove_member(
    session: AsyncSession, member_id: int, account_id: int | None = None
) -> MemberPublic:
    """Remove a member: its sessions end; the tokens and webhook endpoints it created stay
    with the account (the owners' to manage)."""
    member, name = await _member(session, member_id, account_id)
    if (
        account_id is not None
        and member.role == "owner"
        and await _owners(session, member.account_id) <= 1
    ):
        raise InvalidInputError("this is the account's only owner; make another member owner first")
    public = _public(member, name)
    await _end_sessions(session, member.id)
    await session.execute(
        update(ApiToken)
        .where(ApiToken.created_by_member_id == member.id)
        .values(created_by_member_id=None)
    )
    await session.execute(
        update(WebhookEndpointRow)
        .where(WebhookEndpointRow.created_by_member_id == member.id)
        .values(created_by_member_id=None)
    )
    await session.delete(member)
    await session.commit()
    return public
