"""The operator's caps on members' tokens (issue 16 item 9): every limit a member can set
is bounded, the burst included, and setting a cap lowers the members' existing tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jditem.server.accounts import service
from jditem.server.accounts.caps import (
    MemberCaps,
    caps_by_account,
    check_within_caps,
    set_member_caps,
)
from jditem.server.accounts.members import add_member
from jditem.server.store.db import Database, migrate


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'caps.db'}")
    await migrate(database.engine)
    async with database.sessionmaker() as session:
        await service.create_account(session, "acme", 0)
    yield database
    await database.dispose()


@pytest.mark.parametrize(
    ("caps", "burst_cap"),
    [
        (MemberCaps(), None),
        (MemberCaps(max_budget_units=5), None),
        (MemberCaps(max_rate_limit=2.0), 2),
        (MemberCaps(max_rate_limit=0.5), 1),
        (MemberCaps(max_rate_limit=2.5), 3),
        (MemberCaps(max_rate_limit=2.0, max_burst=10), 10),
    ],
)
def test_the_burst_cap_follows_the_rate_cap(caps: MemberCaps, burst_cap: int | None) -> None:
    assert caps.burst_cap == burst_cap


def test_a_capped_rate_caps_the_burst() -> None:
    """The reported bypass: rate 2 within the cap, burst 1,000,000."""
    caps = MemberCaps(max_rate_limit=2.0)
    check_within_caps(caps, {"rate_limit": 2.0, "burst": 2})
    check_within_caps(caps, {"rate_limit": 2.0, "burst": None})  # one second of the rate
    check_within_caps(caps, {"rate_limit": 1.0, "burst": 2})
    for burst in (3, 1_000_000):
        with pytest.raises(service.InvalidInputError, match="set a burst of 2 or less"):
            check_within_caps(caps, {"rate_limit": 2.0, "burst": burst})
    explicit = MemberCaps(max_rate_limit=5.0, max_burst=1)
    check_within_caps(explicit, {"rate_limit": 1.0, "burst": None})
    with pytest.raises(service.InvalidInputError, match="set a burst of 1 or less"):
        check_within_caps(explicit, {"rate_limit": 5.0, "burst": None})  # = 5 at once


async def test_a_burst_cap_needs_a_rate_cap(db: Database) -> None:
    async with db.sessionmaker() as session:
        with pytest.raises(service.InvalidInputError, match="a burst cap needs a rate cap"):
            await set_member_caps(session, "acme", MemberCaps(max_burst=5))
        with pytest.raises(service.InvalidInputError, match="burst must be between"):
            await set_member_caps(session, "acme", MemberCaps(max_rate_limit=1, max_burst=0))
        assert (await caps_by_account(session))["acme"] == MemberCaps()


async def _token(db: Database, member_id: int | None, **limits: object) -> int:
    async with db.sessionmaker() as session:
        public, _ = await service.create_token(
            session, "acme", name="t", created_by_member_id=member_id, **limits
        )
    return public.id


async def _limits(db: Database, token_id: int) -> tuple[object, ...]:
    async with db.sessionmaker() as session:
        token = next(t for t in await service.list_tokens(session, "acme") if t.id == token_id)
    return token.budget_units, token.rate_limit, token.burst, token.daily_quota


async def test_setting_caps_lowers_the_members_existing_tokens(db: Database) -> None:
    """A cap holds at once: member tokens above it (or without the limit) are lowered to
    it; a token within it, and an operator's token, keep their limits."""
    async with db.sessionmaker() as session:
        member, _ = await add_member(session, "m@example.com", "acme", "owner")
    wild = await _token(db, member.id, rate_limit=2.0, burst=1_000_000)
    unlimited = await _token(db, member.id)
    fast_no_burst = await _token(db, member.id, rate_limit=50.0, budget_units=900)
    modest = await _token(db, member.id, rate_limit=1.0, burst=2, budget_units=10, daily_quota=5)
    operators = await _token(db, None, rate_limit=100.0, burst=500)
    caps = MemberCaps(max_budget_units=100, max_rate_limit=2.0, max_daily_quota=50)
    async with db.sessionmaker() as session:
        _, lowered = await set_member_caps(session, "acme", caps)
    assert lowered == 3
    assert await _limits(db, wild) == (100, 2.0, 2, 50)
    assert await _limits(db, unlimited) == (100, 2.0, None, 50)  # None: 2 at once
    assert await _limits(db, fast_no_burst) == (100, 2.0, None, 50)
    assert await _limits(db, modest) == (10, 1.0, 2, 5)
    assert await _limits(db, operators) == (None, 100.0, 500, None)
    # an explicit burst cap lowers a burst-less token whose rate passes it
    async with db.sessionmaker() as session:
        _, lowered = await set_member_caps(
            session, "acme", caps.model_copy(update={"max_burst": 1})
        )
    assert lowered == 4  # bursts of 2, and no burst at 2 per second (2 at once)
    assert (await _limits(db, unlimited))[2] == 1
    assert (await _limits(db, modest))[2] == 1
    # raising or removing caps changes no token
    async with db.sessionmaker() as session:
        _, lowered = await set_member_caps(session, "acme", MemberCaps())
    assert lowered == 0
    assert await _limits(db, wild) == (100, 2.0, 1, 50)
