"""The member service on a real SQLite database: argon2 hashes, the one-time link,
sign-in checks, reset and password change ending sessions, roles, caps."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.server.accounts import caps as member_caps
from jditem.server.accounts import members, passwords, service
from jditem.server.accounts.caps import MemberCaps, check_within_caps
from jditem.server.store.db import Database, migrate
from jditem.server.store.tables import ConsoleSessionRow, Member

PASSWORD = "correct horse battery staple"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    await migrate(database.engine)
    async with database.sessionmaker() as session:
        await service.create_account(session, "acme", 0)
        await service.create_account(session, "other", 0)
    yield database
    await database.dispose()


async def _member_with_password(
    session: AsyncSession,
    email: str = "alice@example.com",
    account: str = "acme",
    role: str = "owner",
) -> members.MemberPublic:
    _, secret = await members.add_member(session, email, account, role)
    return await members.set_password_with_link(session, secret, PASSWORD)


async def _add_session(session: AsyncSession, member_id: int | None) -> str:
    sid_hash = secrets.token_hex(32)
    now = datetime.now(UTC)
    session.add(
        ConsoleSessionRow(
            sid_hash=sid_hash,
            created_at=now,
            expires_at=now + timedelta(hours=1),
            member_id=member_id,
            public_id=secrets.token_hex(8),
        )
    )
    await session.commit()
    return sid_hash


async def _sessions(session: AsyncSession, member_id: int) -> set[str]:
    rows = await session.scalars(
        select(ConsoleSessionRow.sid_hash).where(ConsoleSessionRow.member_id == member_id)
    )
    return set(rows)


async def test_the_password_is_stored_as_an_argon2id_hash(db: Database) -> None:
    async with db.sessionmaker() as session:
        member = await _member_with_password(session)
        stored = await session.scalar(select(Member.password_hash).where(Member.id == member.id))
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert await passwords.hash_password(PASSWORD) != stored  # salted: never the same twice


async def test_e_mails_are_normalized_and_unique(db: Database) -> None:
    async with db.sessionmaker() as session:
        member, _ = await members.add_member(session, "  Alice@Example.COM ", "acme")
        assert member.email == "alice@example.com"
        assert member.role == "member"
        with pytest.raises(service.ConflictError, match="already a member"):
            await members.add_member(session, "alice@example.com", "other")
        with pytest.raises(service.InvalidInputError, match="not an e-mail address"):
            await members.add_member(session, "alice", "acme")
        with pytest.raises(service.InvalidInputError, match="role must be one of"):
            await members.add_member(session, "bob@example.com", "acme", "admin")
        with pytest.raises(service.NotFoundError, match="no account named"):
            await members.add_member(session, "bob@example.com", "nope")


async def test_sign_in_checks_the_password(db: Database) -> None:
    async with db.sessionmaker() as session:
        member = await _member_with_password(session)
        found = await members.authenticate(session, "ALICE@example.com", PASSWORD)
        assert found is not None
        assert found.id == member.id
        assert await members.authenticate(session, "alice@example.com", PASSWORD + "x") is None
        assert await members.authenticate(session, "nobody@example.com", PASSWORD) is None
        assert await members.authenticate(session, "not an e-mail", PASSWORD) is None
        await members.add_member(session, "bob@example.com", "acme")
        assert await members.authenticate(session, "bob@example.com", "") is None  # no password yet


async def test_the_link_works_once(db: Database) -> None:
    async with db.sessionmaker() as session:
        _, secret = await members.add_member(session, "alice@example.com", "acme")
        assert await members.member_for_link(session, secret) is not None
        stored = await session.scalar(select(Member.setup_hash))
        assert stored is not None
        assert secret not in stored
        with pytest.raises(service.InvalidInputError, match="too short"):
            await members.set_password_with_link(session, secret, "short")
        await members.set_password_with_link(session, secret, PASSWORD)
        assert await members.member_for_link(session, secret) is None
        with pytest.raises(service.NotFoundError, match="unknown, used or expired"):
            await members.set_password_with_link(session, secret, "another long password")
        assert await members.authenticate(session, "alice@example.com", PASSWORD) is not None


async def test_an_expired_link_does_not_work(db: Database) -> None:
    async with db.sessionmaker() as session:
        _, secret = await members.add_member(session, "alice@example.com", "acme")
        await session.execute(
            update(Member).values(setup_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
        assert await members.member_for_link(session, secret) is None
        with pytest.raises(service.NotFoundError):
            await members.set_password_with_link(session, secret, PASSWORD)


async def test_reset_ends_the_password_and_every_session(db: Database) -> None:
    async with db.sessionmaker() as session:
        member = await _member_with_password(session)
        await _add_session(session, member.id)
        await _add_session(session, member.id)
        operator = await _add_session(session, None)
        _, secret = await members.reset_password(session, member.id)
        assert await _sessions(session, member.id) == set()
        assert await session.scalar(select(func.count()).select_from(ConsoleSessionRow)) == 1
        assert await session.get(ConsoleSessionRow, operator) is not None
        assert await members.authenticate(session, "alice@example.com", PASSWORD) is None
        await members.set_password_with_link(session, secret, "a brand new password")
        assert await members.authenticate(session, "alice@example.com", "a brand new password")


async def test_password_change_ends_every_session(db: Database) -> None:
    """The console then starts a new one: the session id rotates (issue 16 item 12)."""
    async with db.sessionmaker() as session:
        member = await _member_with_password(session)
        await _add_session(session, member.id)
        await _add_session(session, member.id)
        with pytest.raises(members.WrongPasswordError, match="current password"):
            await members.change_password(
                session, member.id, "wrong password!", "a brand new password"
            )
        assert len(await _sessions(session, member.id)) == 2  # nothing changed
        with pytest.raises(service.InvalidInputError, match="too short"):
            await members.change_password(session, member.id, PASSWORD, "short")
        await members.change_password(session, member.id, PASSWORD, "a brand new password")
        assert await _sessions(session, member.id) == set()
        assert await members.authenticate(session, "alice@example.com", PASSWORD) is None
        assert await members.authenticate(session, "alice@example.com", "a brand new password")


async def test_another_accounts_member_is_not_found(db: Database) -> None:
    async with db.sessionmaker() as session:
        alice = await _member_with_password(session)
        acme = alice.account_id
        bob, _ = await members.add_member(session, "bob@example.com", "other")
        for call in (
            members.reset_password(session, bob.id, acme),
            members.set_role(session, bob.id, "owner", acme),
            members.remove_member(session, bob.id, acme),
        ):
            with pytest.raises(service.NotFoundError, match=f"no member with id {bob.id}"):
                await call
        assert [m.email for m in await members.list_members(session, acme)] == [alice.email]


async def test_an_account_keeps_an_owner_when_its_owners_act(db: Database) -> None:
    async with db.sessionmaker() as session:
        alice = await _member_with_password(session)
        acme = alice.account_id
        with pytest.raises(service.InvalidInputError, match="needs an owner"):
            await members.set_role(session, alice.id, "member", acme)
        with pytest.raises(service.InvalidInputError, match="only owner"):
            await members.remove_member(session, alice.id, acme)
        bob, _ = await members.add_member(session, "bob@example.com", "acme", "owner")
        await members.set_role(session, alice.id, "member", acme)  # bob is still an owner
        await members.remove_member(session, bob.id, None)  # the operator may leave none
        assert [m.role for m in await members.list_members(session, acme)] == ["member"]


def test_caps_bound_what_members_set() -> None:
    check_within_caps(MemberCaps(), {"budget_units": None, "rate_limit": 1e6})
    caps = MemberCaps(max_budget_units=100_000, max_rate_limit=2.0, max_daily_quota=50)
    within = {"budget_units": 100_000, "rate_limit": 2.0, "daily_quota": 50}
    check_within_caps(caps, within)
    for key, value, says in (
        ("budget_units", None, "budget of 10.0000 yuan or less"),
        ("budget_units", 100_001, "budget of 10.0000 yuan or less"),
        ("rate_limit", 2.5, "rate limit of 2.0 requests/second"),
        ("daily_quota", None, "daily quota of 50 calls"),
    ):
        with pytest.raises(service.InvalidInputError, match=says):
            check_within_caps(caps, {**within, key: value})


async def test_caps_are_stored_per_account(db: Database) -> None:
    async with db.sessionmaker() as session:
        caps = MemberCaps(max_budget_units=5_000, max_daily_quota=10)
        await member_caps.set_member_caps(session, "acme", caps)
        every = await member_caps.caps_by_account(session)
        assert every == {"acme": caps, "other": MemberCaps()}
        with pytest.raises(service.InvalidInputError, match="rate limit must be between"):
            await member_caps.set_member_caps(session, "acme", MemberCaps(max_rate_limit=-1))
