"""The charge group commit as one PostgreSQL function against the reference.

The same batches (budget, balance and quota edges, refusals mid-batch, several tokens
and accounts, call records and their hourly rollup, random batches) run through
``jditem_charge_batch`` (:mod:`jditem.server.accounts.charge_function`) on one database
and through ``apply_batch`` (the reference it replaces; ``test_charge_plan.py`` holds
that one to ``apply_each``, one by one) on another, from the same rows: the answers and
every row written must be the same.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, text

from jditem.server.accounts import charge_function
from jditem.server.accounts.batcher import ChargeBatcher
from jditem.server.accounts.charge_plan import apply_batch
from jditem.server.accounts.charging import ChargeRequest, ChargeResult
from jditem.server.accounts.usage import CallRow
from jditem.server.devservices.postgres import PgCluster
from jditem.server.store.db import Database
from tests.server.accounts.charges import DAY, NOW, two_accounts
from tests.support.waiting import await_until

#: Tokens 1 and 2 belong to account 1, token 3 to account 2 (``two_accounts``).
ACCOUNT_OF = {1: 1, 2: 1, 3: 2, 99: 1}


@dataclass
class Case:
    """Rows before the batch, and the batch as (token, price, quota, code or None)."""

    balances: dict[int, int]
    tokens: dict[int, tuple[int | None, int]]  # id -> (budget, spent)
    batch: list[tuple[int, int, int | None, int | None]]
    counts: dict[int, int] = field(default_factory=dict)  # token -> quota count today
    usage: list[tuple[int, int, int]] = field(default_factory=list)  # (token, code, calls)


CASES = {
    "budget edge": Case(
        {1: 10_000, 2: 10_000}, {1: (300, 100), 2: (None, 0), 3: (None, 0)}, [(1, 100, None, 0)] * 3
    ),
    "budget already over": Case(
        {1: 10_000, 2: 10_000},
        {1: (150, 300), 2: (0, 0), 3: (None, 0)},
        [(1, 50, None, 0), (2, 50, None, 0), (3, 50, None, 0)],
    ),
    "balance edge, a cheaper charge after a refusal": Case(
        {1: 250, 2: 0},
        {1: (None, 0), 2: (None, 0), 3: (None, 0)},
        [
            (1, 100, None, 0),
            (2, 100, None, 0),
            (1, 100, None, 0),
            (2, 50, None, 0),
            (3, 50, None, 0),
        ],
    ),
    "quota edges": Case(
        {1: 10_000, 2: 10_000},
        {1: (None, 0), 2: (None, 0), 3: (None, 0)},
        [(1, 100, 2, 0), (1, 100, 2, 0), (2, 100, 0, 0), (3, 100, 3, 0)] + [(3, 100, 3, 0)] * 3,
        counts={1: 1},
    ),
    "refusals mid-batch consume nothing": Case(
        {1: 300, 2: 10_000},
        {1: (200, 0), 2: (None, 0), 3: (None, 0)},
        [
            (1, 100, 5, 0),
            (1, 250, 5, 0),
            (2, 150, 5, 0),
            (1, 100, 5, 0),
            (2, 100, 5, 0),
            (3, 100, 1, 0),
            (3, 100, 1, 0),
            (1, 100, 5, None),
        ],
    ),
    "several tokens and accounts, records and their rollup": Case(
        {1: 5_000, 2: 5_000},
        {1: (None, 0), 2: (1_000, 900), 3: (None, 0)},
        [(t, 100, None, code) for t in (3, 1, 2, 1, 3) for code in (0, 0, 301, None)],
        usage=[(1, 0, 5), (3, 301, 2)],
    ),
    "an unknown token": Case(
        {1: 10_000, 2: 10_000},
        {1: (None, 0), 2: (None, 0), 3: (None, 0)},
        [(99, 100, None, 0), (1, 100, None, 0)],
    ),
}


def _random_case(rng: random.Random) -> Case:
    return Case(
        {a: rng.choice([0, 99, 100, 350, 1000, 5000]) for a in (1, 2)},
        {t: (rng.choice([None, 0, 150, 400, 2000]), rng.choice([0, 100, 300])) for t in (1, 2, 3)},
        [
            (
                rng.choice([1, 2, 3]),
                rng.choice([50, 100, 100, 250]),
                rng.randint(0, 6) if rng.random() < 0.6 else None,
                rng.choice([0, 0, 301, None]),
            )
            for _ in range(rng.randint(1, 40))
        ],
        counts={t: rng.randint(0, 4) for t in (1, 2, 3) if rng.random() < 0.5},
        usage=[(t, 0, 3) for t in (1, 3) if rng.random() < 0.5],
    )


def _requests(case: Case, prefix: str) -> list[ChargeRequest]:
    requests = []
    for n, (token, price, quota, code) in enumerate(case.batch):
        at = NOW + timedelta(minutes=n * 7)  # crosses the hour: two rollup rows
        request_id = f"{prefix}{n:03d}"
        call = None
        if code is not None:
            call = CallRow(
                request_id,
                token,
                ACCOUNT_OF[token],
                "jd/get-item-detail/v2",
                "100",
                code,
                price,
                None,
                n,
                at,
            )
        requests.append(
            ChargeRequest(
                ACCOUNT_OF[token],
                token,
                price,
                request_id,
                "100",
                at,
                quota=quota,
                day=DAY if quota is not None else None,
                call=call,
            )
        )
    return requests


def _setup(conn: Connection, case: Case) -> None:
    for table in ("ledger", "call_records", "usage_hourly", "quota_counters"):
        conn.execute(text(f"DELETE FROM {table}"))
    for account, balance in case.balances.items():
        conn.execute(
            text("UPDATE accounts SET balance = :b WHERE id = :i"), {"b": balance, "i": account}
        )
    for token, (budget, spent) in case.tokens.items():
        conn.execute(
            text("UPDATE tokens SET budget = :b, spent = :s, last_used_at = NULL WHERE id = :i"),
            {"b": budget, "s": spent, "i": token},
        )
    for token, count in case.counts.items():
        conn.execute(
            text("INSERT INTO quota_counters (token_id, day, count) VALUES (:t, :d, :c)"),
            {"t": token, "d": DAY, "c": count},
        )
    for token, code, calls in case.usage:
        conn.execute(
            text(
                "INSERT INTO usage_hourly (hour, token_id, code, calls, spend) "
                "VALUES (:h, :t, :c, :n, :s)"
            ),
            {"h": NOW, "t": token, "c": code, "n": calls, "s": calls * 100},
        )


def _rows(conn: Connection) -> dict[str, Any]:
    """Every row a charge writes (ids excluded only where the two databases' sequences
    were advanced differently by earlier cases)."""
    queries = {
        "accounts": "SELECT id, balance FROM accounts ORDER BY id",
        "tokens": "SELECT id, budget, spent, last_used_at FROM tokens ORDER BY id",
        "quota": "SELECT token_id, day, count FROM quota_counters ORDER BY token_id, day",
        "ledger": "SELECT account_id, token_id, kind, amount, request_id, item_id, created_at "
        "FROM ledger ORDER BY id",
        "calls": "SELECT request_id, token_id, account_id, endpoint, item_id, code, charged, "
        "task_id, latency_ms, created_at, watch_list_id FROM call_records ORDER BY id",
        "usage": "SELECT hour, token_id, code, calls, spend FROM usage_hourly "
        "ORDER BY hour, token_id, code",
    }
    return {name: conn.execute(text(sql)).all() for name, sql in queries.items()}


@pytest.fixture
async def two_databases(pg_cluster: PgCluster) -> AsyncIterator[tuple[Database, Database]]:
    """The same two accounts and three tokens in two PostgreSQL databases."""
    names = [pg_cluster.create_database("fn"), pg_cluster.create_database("ref")]
    makers = [two_accounts(pg_cluster.url(name)) for name in names]
    try:
        dbs = [await anext(maker) for maker in makers]
        yield dbs[0], dbs[1]
    finally:
        for maker in makers:  # runs each past its yield: disposes its engine
            await anext(maker, None)
        for name in names:
            pg_cluster.drop_database(name)


async def _compare(
    function_db: Database, reference_db: Database, case: Case, label: str
) -> list[ChargeResult]:
    results = []
    for db, apply in ((function_db, _by_function), (reference_db, _by_reference)):
        await db.write_batch(_setup, case)
        results.append(await apply(db, _requests(case, label[:3])))
    rows = [await db.write_batch(_rows) for db in (function_db, reference_db)]
    assert results[0] == results[1], label
    assert rows[0] == rows[1], label
    charged = results[0].count(ChargeResult.CHARGED)
    assert len(rows[0]["ledger"]) == charged, label
    return results[0]


async def _by_function(db: Database, batch: list[ChargeRequest]) -> list[ChargeResult]:
    assert charge_function.fits(batch)
    return await db.write_on_driver(charge_function.apply_function, batch)


async def _by_reference(db: Database, batch: list[ChargeRequest]) -> list[ChargeResult]:
    return await db.write_batch(apply_batch, batch)


async def test_the_function_decides_and_writes_as_the_reference(
    two_databases: tuple[Database, Database],
) -> None:
    seen: set[ChargeResult] = set()
    cases: list[tuple[str, Callable[[], Case]]] = [
        (label, lambda c=case: c) for label, case in CASES.items()
    ]
    cases += [(f"seed {seed}", lambda s=seed: _random_case(random.Random(s))) for seed in range(40)]
    for label, make in cases:
        seen.update(await _compare(*two_databases, make(), label))
    assert seen == {
        ChargeResult.CHARGED,
        ChargeResult.BUDGET_EXHAUSTED,
        ChargeResult.INSUFFICIENT_BALANCE,
        ChargeResult.QUOTA_EXCEEDED,
    }


async def test_the_batcher_sends_only_money_only_batches_to_the_function(
    two_databases: tuple[Database, Database],
) -> None:
    """Seen from PostgreSQL: the held connection's last statement is the function after
    a plain charge, and ``apply_batch``'s transaction after a keyed one."""
    db = two_databases[0]
    await db.write_batch(_setup, CASES["budget edge"])
    plain = _requests(CASES["budget edge"], "p")[0]
    keyed = ChargeRequest(1, 2, 100, "k1", "100", NOW, idempotency_key="k", key_since=NOW)
    assert charge_function.fits([plain])
    assert not charge_function.fits([plain, keyed])
    batcher = ChargeBatcher(db)
    batcher.start()

    async def last_query(pid: int | None) -> tuple[int, str]:
        """The held connection's pid and last statement (found by the function's text
        while ``pid`` is unknown)."""
        where = "query LIKE 'SELECT jditem_charge_batch%'" if pid is None else "pid = :p"
        async with db.engine.connect() as probe:
            found = await probe.execute(
                text(
                    "SELECT pid, query FROM pg_stat_activity "
                    f"WHERE datname = current_database() AND {where}"
                ),
                {"p": pid},
            )
            row = found.one()
            return int(row.pid), str(row.query)

    try:
        assert await batcher.charge(plain) is ChargeResult.CHARGED
        pid, query = await last_query(None)
        assert query.startswith("SELECT jditem_charge_batch(")
        assert await batcher.charge(keyed) is ChargeResult.CHARGED
        assert (await last_query(pid))[1] == "COMMIT;"
    finally:
        await batcher.stop()


async def test_a_lost_connection_is_settled_from_the_ledger(
    two_databases: tuple[Database, Database],
) -> None:
    """Lost while the statement waits (nothing committed): the batch is applied once.
    Lost after it committed: the ledger says which were charged; nothing twice."""
    db = two_databases[0]
    case = Case(
        {1: 1_000, 2: 0}, {1: (None, 0), 2: (None, 0), 3: (None, 0)}, [(1, 100, None, 0)] * 3
    )
    await db.write_batch(_setup, case)
    batcher = ChargeBatcher(db)
    batcher.start()
    try:
        assert await batcher.charge(_requests(case, "w")[0]) is ChargeResult.CHARGED
        # hold the token's row so the next batch's statement waits on it, then end its
        # connection while it waits
        async with db.engine.connect() as blocker:
            await blocker.execute(text("SELECT id FROM tokens WHERE id = 1 FOR UPDATE"))
            charging = asyncio.ensure_future(batcher.charge(_requests(case, "x")[1]))

            async def waiting_pid() -> int | None:
                async with db.engine.connect() as probe:
                    found = await probe.execute(
                        text(
                            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                            "AND query LIKE 'SELECT jditem_charge_batch%'"
                        )
                    )
                    return found.scalar()

            pid = await await_until(waiting_pid, what="the charge statement waits on the lock")
            async with db.engine.connect() as killer:
                await killer.execute(text("SELECT pg_terminate_backend(:p, 30000)"), {"p": pid})
            await blocker.rollback()
        assert await charging is ChargeResult.CHARGED  # applied once more, on a new connection
        # lost while idle between batches: replaced before the next statement is sent
        async with db.engine.connect() as killer:
            await killer.execute(
                text(
                    "SELECT pg_terminate_backend(pid, 30000) FROM pg_stat_activity "
                    "WHERE query LIKE 'SELECT jditem_charge_batch%'"
                )
            )
        assert await batcher.charge(_requests(case, "z")[2]) is ChargeResult.CHARGED
    finally:
        await batcher.stop()

    # committed, then lost before the answer: settle_lost reads the ledger back
    batch = _requests(case, "y")
    first = await db.write_on_driver(charge_function.apply_function, batch[:2])
    assert first == [ChargeResult.CHARGED] * 2
    settled = await db.write_charges(charge_function.settle_lost, batch)
    assert settled == [ChargeResult.CHARGED] * 3
    rows = await db.write_batch(_rows)
    charged = ["w000", "x001", "z002", "y000", "y001", "y002"]
    assert [r.request_id for r in rows["ledger"]] == charged
    assert rows["accounts"][0].balance == 400
    assert [r.request_id for r in rows["calls"]] == [r.request_id for r in rows["ledger"]]
