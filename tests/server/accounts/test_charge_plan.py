"""The group-commit plan of charges on a real SQLite database.

``apply_batch`` plans a whole batch from one read and writes one guarded update per
row; ``apply_each`` is the one-request-at-a-time reference. Random batches must give
the same answers and the same final state with both.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text

from jditem.server.accounts.charge_plan import apply_batch, apply_each
from jditem.server.accounts.charging import ChargeRequest, ChargeResult
from jditem.server.store import sqlite
from jditem.server.store.db import Database
from tests.server.accounts.charges import DAY, NOW, SINCE, two_accounts


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    """Two accounts and three tokens on SQLite (the test drives the writer's sync engine)."""
    async for database in two_accounts(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"):
        yield database


def _state(conn: Connection) -> dict[str, Any]:
    return {
        "balances": conn.execute(text("SELECT id, balance FROM accounts ORDER BY id")).all(),
        "spent": conn.execute(text("SELECT id, spent FROM tokens ORDER BY id")).all(),
        "quota": conn.execute(
            text("SELECT token_id, day, count FROM quota_counters ORDER BY token_id, day")
        ).all(),
        "ledger": conn.execute(
            text(
                "SELECT request_id, account_id, token_id, amount FROM ledger "
                "WHERE kind = 'charge' ORDER BY request_id"
            )
        ).all(),
        "list_spend": conn.execute(
            text("SELECT list_id, day, spent, checks FROM watch_spend ORDER BY list_id, day")
        ).all(),
        "keys": conn.execute(
            text(
                "SELECT token_id, key, item_id, request_id, created_at FROM idempotency_keys "
                "ORDER BY token_id, key"
            )
        ).all(),
    }


def _scenario(rng: random.Random, conn: Connection) -> list[ChargeRequest]:
    """Random balances, budgets, spend and quota counts, and a random batch."""
    conn.execute(text("DELETE FROM quota_counters"))
    conn.execute(text("DELETE FROM idempotency_keys"))
    conn.execute(text("DELETE FROM watch_spend"))
    conn.execute(text("DELETE FROM watch_lists"))
    for list_id, token_id in ((1, 1), (2, 3)):  # watch lists with random budgets and spend
        conn.execute(
            text(
                "INSERT INTO watch_lists (id, account_id, token_id, name, interval_seconds, "
                "daily_budget, paused, created_at, updated_at) "
                "VALUES (:i, :a, :t, :n, 300, :b, false, :c, :c)"
            ),
            {
                "i": list_id,
                "a": 1 if token_id < 3 else 2,
                "t": token_id,
                "n": f"w{list_id}",
                "b": rng.choice([0, 100, 250, 600, 10_000]),
                "c": NOW,
            },
        )
        if rng.random() < 0.5:
            conn.execute(
                text(
                    "INSERT INTO watch_spend (list_id, day, spent, checks) VALUES (:l, :d, :s, 1)"
                ),
                {"l": list_id, "d": DAY, "s": rng.choice([0, 100, 200])},
            )
    for token_id in (1, 2, 3):  # earlier uses of keys: fresh or expired, item 1 or 2
        for key in ("k0", "k1"):
            if rng.random() < 0.4:
                conn.execute(
                    text(
                        "INSERT INTO idempotency_keys (token_id, key, item_id, request_id, "
                        "created_at) VALUES (:t, :k, :i, :r, :c)"
                    ),
                    {
                        "t": token_id,
                        "k": key,
                        "i": rng.choice(["1", "2"]),
                        "r": f"old-{token_id}-{key}",
                        "c": rng.choice([NOW - timedelta(minutes=5), NOW - timedelta(days=2)]),
                    },
                )
    for account_id in (1, 2):
        conn.execute(
            text("UPDATE accounts SET balance = :b WHERE id = :i"),
            {"b": rng.choice([0, 99, 100, 350, 1000, 5000]), "i": account_id},
        )
    for token_id in (1, 2, 3):
        conn.execute(
            text("UPDATE tokens SET budget = :b, spent = :s WHERE id = :i"),
            {
                "b": rng.choice([None, 0, 150, 400, 2000]),
                "s": rng.choice([0, 100, 300]),  # may exceed a small budget
                "i": token_id,
            },
        )
        if rng.random() < 0.5:
            conn.execute(
                text("INSERT INTO quota_counters (token_id, day, count) VALUES (:t, :d, :c)"),
                {"t": token_id, "d": DAY, "c": rng.randint(0, 4)},
            )
    batch = []
    for n in range(rng.randint(1, 40)):
        token_id = rng.choice([1, 2, 3])
        counted = rng.random() < 0.6
        watched = {1: 1, 3: 2}.get(token_id) if rng.random() < 0.4 else None
        batch.append(
            ChargeRequest(
                account_id=1 if token_id < 3 else 2,
                token_id=token_id,
                price=rng.choice([50, 100, 100, 250]),
                request_id=f"r{n:03d}",
                item_id=rng.choice(["1", "2"]),
                now=NOW,
                quota=rng.randint(0, 6) if counted else None,
                day=DAY if counted or watched else None,
                idempotency_key=rng.choice([None, None, "k0", "k1", "k2"]),
                key_since=SINCE,
                watch_list_id=watched,
            )
        )
    return batch


def _run(
    conn: Connection,
    apply: Callable[[Connection, list[ChargeRequest]], list[ChargeResult]],
    setup: Callable[[Connection], list[ChargeRequest]],
) -> tuple[list[ChargeResult], dict[str, Any], dict[str, Any]]:
    transaction = conn.begin()
    try:
        batch = setup(conn)
        before = _state(conn)
        results = apply(conn, batch)
        return results, before, _state(conn)
    finally:
        transaction.rollback()


async def test_batch_plan_matches_one_by_one(sqlite_db: Database) -> None:
    db = sqlite_db
    engine = sqlite.create_sync_engine(str(sqlite.sync_url(str(db.engine.url))))
    outcomes: set[ChargeResult] = set()
    try:
        with engine.connect() as conn:
            for seed in range(60):
                planned, before, after_plan = _run(
                    conn, apply_batch, lambda c, s=seed: _scenario(random.Random(s), c)
                )
                reference, _, after_each = _run(
                    conn, apply_each, lambda c, s=seed: _scenario(random.Random(s), c)
                )
                assert planned == reference, seed
                assert after_plan == after_each, seed
                outcomes.update(planned)
                # Σ ledger = balance change = Σ spend change; nobody below zero.
                charged = -sum(row[3] for row in after_plan["ledger"])
                paid = sum(b for _, b in before["balances"]) - sum(
                    b for _, b in after_plan["balances"]
                )
                spent = sum(s for _, s in after_plan["spent"]) - sum(s for _, s in before["spent"])
                assert charged == paid == spent, seed
                assert all(b >= 0 for _, b in after_plan["balances"]), seed
                assert len(after_plan["ledger"]) == planned.count(ChargeResult.CHARGED)
    finally:
        engine.dispose()
    assert outcomes == set(ChargeResult)  # every kind of answer was exercised
