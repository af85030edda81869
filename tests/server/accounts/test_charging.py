"""Charging outcomes on a real SQLite database: batched (group commit) and one by one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from jditem.server.accounts import service
from jditem.server.accounts.batcher import ChargeBatcher
from jditem.server.accounts.charging import ChargeRequest, ChargeResult
from jditem.server.store.db import Database, migrate
from jditem.server.store.tables import Account, ApiToken, LedgerEntry


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    await migrate(database.engine)
    yield database
    await database.dispose()


async def _setup(db: Database, balance: int, budget: int | None) -> tuple[int, int]:
    async with db.sessionmaker() as session:
        account = await service.create_account(session, "a", balance)
        token, _ = await service.create_token(session, "a", budget_units=budget)
    return account.id, token.id


async def _state(db: Database) -> tuple[int, int, int]:
    async with db.sessionmaker() as session:
        balance = await session.scalar(select(Account.balance))
        spent = await session.scalar(select(ApiToken.spent))
        charges = await session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.kind == "charge"
            )
        )
    return int(balance or 0), int(spent or 0), int(charges or 0)


@pytest.mark.parametrize("batched", [True, False])
async def test_balance_then_budget(db: Database, tmp_path: Path, batched: bool) -> None:
    account_id, token_id = await _setup(db, balance=250, budget=None)
    batcher = ChargeBatcher(db)
    if batched:
        batcher.start()
    now = datetime.now(UTC)
    results = [
        await batcher.charge(ChargeRequest(account_id, token_id, 100, f"r{i}", "1", now))
        for i in range(3)
    ]
    await batcher.stop()
    assert results == [
        ChargeResult.CHARGED,
        ChargeResult.CHARGED,
        ChargeResult.INSUFFICIENT_BALANCE,
    ]
    assert await _state(db) == (50, 200, -200)  # the failed charge gave its spend back


async def test_balance_failure_leaves_the_budget_untouched(db: Database) -> None:
    account_id, token_id = await _setup(db, balance=50, budget=100)
    batcher = ChargeBatcher(db)
    batcher.start()
    now = datetime.now(UTC)
    first = await batcher.charge(ChargeRequest(account_id, token_id, 100, "a", "1", now))
    await batcher.stop()
    assert first is ChargeResult.INSUFFICIENT_BALANCE
    assert await _state(db) == (50, 0, 0)
