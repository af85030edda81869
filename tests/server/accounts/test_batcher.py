"""Group commit of charges (with daily-quota counts and idempotency keys), on each
profile: batched, and one by one before the batcher starts. The plan itself is tested
in ``test_charge_plan.py``."""

from __future__ import annotations

import asyncio
import importlib
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text

from jditem.server.accounts import batcher as batcher_module
from jditem.server.accounts import charge_function, service
from jditem.server.accounts.batcher import ChargeBatcher
from jditem.server.accounts.charge_plan import StalePlanError, apply_batch
from jditem.server.accounts.charging import ChargeRequest, ChargeResult
from jditem.server.store.db import Database
from tests.server.accounts.charges import DAY, NOW, SINCE, two_accounts
from tests.support.backends import FreshDatabase

charge_migration = importlib.import_module(
    "jditem.server.store.migrations.versions.0016_charge_function"
)


@pytest.fixture
async def db(tmp_path: Path, fresh_database: FreshDatabase) -> AsyncIterator[Database]:
    """Two accounts and three tokens, on each profile (SQLite file, PostgreSQL)."""
    async for database in two_accounts(
        fresh_database.url or f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"
    ):
        yield database


async def _setup_token(db: Database, *, balance: int, budget: int | None) -> tuple[int, int]:
    async with db.sessionmaker() as session:
        account = await service.create_account(session, "q", balance)
        token, _ = await service.create_token(session, "q", budget_units=budget)
    return account.id, token.id


async def _quota_and_money(db: Database, token_id: int) -> tuple[int, int, int, int]:
    async with db.sessionmaker() as session:
        count = await session.scalar(
            text("SELECT COALESCE(SUM(count), 0) FROM quota_counters WHERE token_id = :t"),
            {"t": token_id},
        )
        spent = await session.scalar(
            text("SELECT spent FROM tokens WHERE id = :t"), {"t": token_id}
        )
        charges = await session.scalar(
            text("SELECT COUNT(*) FROM ledger WHERE token_id = :t AND kind = 'charge'"),
            {"t": token_id},
        )
        balance = await session.scalar(
            text(
                "SELECT a.balance FROM accounts a JOIN tokens t ON t.account_id = a.id "
                "WHERE t.id = :t"
            ),
            {"t": token_id},
        )
    return int(count or 0), int(spent or 0), int(charges or 0), int(balance or 0)


@pytest.mark.parametrize("batched", [True, False])
async def test_quota_is_counted_with_the_charge(db: Database, batched: bool) -> None:
    account_id, token_id = await _setup_token(db, balance=10_000, budget=None)
    charger = ChargeBatcher(db)
    if batched:
        charger.start()
    requests = [
        ChargeRequest(account_id, token_id, 100, f"q{i}", "1", NOW, quota=3, day=DAY)
        for i in range(5)
    ]
    results = await asyncio.gather(*(charger.charge(r) for r in requests))
    await charger.stop()
    assert sorted(r.value for r in results) == sorted(["charged"] * 3 + ["quota_exceeded"] * 2)
    assert await _quota_and_money(db, token_id) == (3, 300, 3, 9_700)


@pytest.mark.parametrize("batched", [True, False])
async def test_a_refused_charge_counts_no_quota(db: Database, batched: bool) -> None:
    account_id, token_id = await _setup_token(db, balance=10_000, budget=200)
    charger = ChargeBatcher(db)
    if batched:
        charger.start()
    requests = [
        ChargeRequest(account_id, token_id, 100, f"b{i}", "1", NOW, quota=10, day=DAY)
        for i in range(5)
    ]
    results = await asyncio.gather(*(charger.charge(r) for r in requests))
    await charger.stop()
    assert results.count(ChargeResult.CHARGED) == 2
    assert results.count(ChargeResult.BUDGET_EXHAUSTED) == 3
    assert await _quota_and_money(db, token_id) == (2, 200, 2, 9_800)


async def test_a_stale_plan_is_applied_one_by_one(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If a guarded batch update ever matches no row, the batch is rolled back and
    applied again request by request — same answers, nothing charged twice."""
    account_id, token_id = await _setup_token(db, balance=250, budget=None)
    calls = {"planned": 0}

    def stale(conn: Connection, batch: list[ChargeRequest]) -> list[ChargeResult]:
        calls["planned"] += 1
        apply_batch(conn, batch)  # writes, then the rollback must undo them
        raise StalePlanError("simulated")

    monkeypatch.setattr(batcher_module, "apply_batch", stale)
    if db.writes_on_driver:  # PostgreSQL: the batch goes to the function, which says stale
        await db.write_batch(_create_stale_function)
        monkeypatch.setattr(charge_function, "CALL", _stale_call())
        planned = calls["planned"]
        stale_results = await _charge_all(db, account_id, token_id, "f")
        assert calls["planned"] == planned  # never applied by apply_batch
        assert sorted(r.value for r in stale_results) == [
            "charged",
            "charged",
            "insufficient_balance",
        ]
        assert await _quota_and_money(db, token_id) == (0, 200, 2, 50)
        return
    charger = ChargeBatcher(db)
    charger.start()
    requests = [ChargeRequest(account_id, token_id, 100, f"s{i}", "1", NOW) for i in range(3)]
    results = await asyncio.gather(*(charger.charge(r) for r in requests))
    await charger.stop()
    assert calls["planned"] >= 1
    assert sorted(r.value for r in results) == ["charged", "charged", "insufficient_balance"]
    assert await _quota_and_money(db, token_id) == (0, 200, 2, 50)


async def _charge_all(
    db: Database, account_id: int, token_id: int, prefix: str
) -> list[ChargeResult]:
    charger = ChargeBatcher(db)
    charger.start()
    requests = [
        ChargeRequest(account_id, token_id, 100, f"{prefix}{i}", "1", NOW) for i in range(3)
    ]
    try:
        return list(await asyncio.gather(*(charger.charge(r) for r in requests)))
    finally:
        await charger.stop()


def _create_stale_function(conn: Connection) -> None:
    """A function with the charge function's arguments that reports a stale plan."""
    conn.execute(
        text(
            f"CREATE FUNCTION jditem_stale_test({charge_migration.ARGUMENTS}) RETURNS text[] "
            "LANGUAGE plpgsql AS $fn$ BEGIN "
            "RAISE EXCEPTION 'simulated' USING ERRCODE = 'JD001'; END $fn$"
        )
    )


def _stale_call() -> str:
    return charge_function.CALL.replace("jditem_charge_batch", "jditem_stale_test")


@pytest.mark.parametrize("batched", [True, False])
async def test_one_key_is_charged_once(db: Database, batched: bool) -> None:
    account_id, token_id = await _setup_token(db, balance=10_000, budget=None)
    charger = ChargeBatcher(db)
    if batched:
        charger.start()
    requests = [
        ChargeRequest(
            account_id, token_id, 100, f"k{i}", "7", NOW, idempotency_key="K", key_since=SINCE
        )
        for i in range(10)
    ]
    other = ChargeRequest(
        account_id, token_id, 100, "k-other", "8", NOW, idempotency_key="K", key_since=SINCE
    )
    sent = [*requests, other]
    results = await asyncio.gather(*(charger.charge(r) for r in sent))
    await charger.stop()
    # Whichever request reaches the database first wins the key (the order of gather's
    # requests there is not promised): the others of its item replay, the rest conflict.
    assert results.count(ChargeResult.CHARGED) == 1
    winner = sent[results.index(ChargeResult.CHARGED)]
    for request, result in zip(sent, results, strict=True):
        if request is not winner:
            same_item = request.item_id == winner.item_id
            expected = ChargeResult.REPLAYED if same_item else ChargeResult.KEY_CONFLICT
            assert result is expected, (request, result)
    assert await _quota_and_money(db, token_id) == (0, 100, 1, 9_900)


@pytest.mark.parametrize("batched", [True, False])
async def test_expired_keys_are_deleted(
    db: Database, batched: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batcher_module.idempotency, "PURGE_INTERVAL_SECONDS", 0.0)
    account_id, token_id = await _setup_token(db, balance=10_000, budget=None)
    async with db.sessionmaker() as session, session.begin():
        for key, age in (("old", timedelta(days=2)), ("young", timedelta(minutes=1))):
            await session.execute(
                text(
                    "INSERT INTO idempotency_keys (token_id, key, item_id, request_id, "
                    "created_at) VALUES (:t, :k, '1', :k, :c)"
                ),
                {"t": token_id, "k": key, "c": NOW - age},
            )
    charger = ChargeBatcher(db)
    if batched:
        charger.start()
    request = ChargeRequest(
        account_id, token_id, 100, "p1", "1", NOW, idempotency_key="new", key_since=SINCE
    )
    assert await charger.charge(request) is ChargeResult.CHARGED
    if not batched:  # the one-by-one path purges before the next charge
        await charger.charge(ChargeRequest(account_id, token_id, 100, "p2", "1", NOW))
    await charger.stop()
    async with db.sessionmaker() as session:
        keys = (await session.execute(text("SELECT key FROM idempotency_keys"))).all()
    assert sorted(k for (k,) in keys) == ["new", "young"]


async def test_the_event_loop_runs_between_two_batches(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More charges queued than one batch holds: the batches go one at a time and the
    event loop runs other work between them (a SQLite batch commits on the loop's thread
    without yielding, so without this a burst would hold the loop for all of them)."""
    monkeypatch.setattr(batcher_module, "MAX_BATCH", 4)
    account_id, token_id = await _setup_token(db, balance=10_000, budget=None)
    loop = asyncio.get_running_loop()
    iterations = 0
    running = True

    def tick() -> None:  # once per event-loop iteration
        nonlocal iterations
        iterations += 1
        if running:
            loop.call_soon(tick)

    seen: list[int] = []
    write = db.write_on_driver if db.writes_on_driver else db.write_charges

    async def counted(fn: Any, batch: list[ChargeRequest]) -> Any:
        seen.append(iterations)
        return await write(fn, batch)

    monkeypatch.setattr(db, "write_on_driver" if db.writes_on_driver else "write_charges", counted)
    charger = ChargeBatcher(db)
    charger.start()
    tick()
    requests = [ChargeRequest(account_id, token_id, 100, f"l{i}", "1", NOW) for i in range(12)]
    try:
        results = await asyncio.gather(*(charger.charge(r) for r in requests))
    finally:
        running = False
        await charger.stop()
    assert [r.value for r in results] == ["charged"] * 12
    assert len(seen) >= 3  # at most 4 per batch
    assert all(a < b for a, b in itertools.pairwise(seen))  # the loop ran between
