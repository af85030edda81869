"""What one scheduler tick's pick of due items costs (issue 19: ≤ 50 ms).

The watch scheduler picks at most ``watch_batch`` (500) due items of unpaused lists per
tick through the index on ``(active, next_check_at)``
(:func:`jditem.server.jobs.watch_scheduler.pick_due`). Side by side in one run, on the
real stores, wall ms per call (median of ``--rounds``):

* ``pick`` — the scheduler's pick with 500 items due among N watched;
* ``pick at 10k`` — the same pick on the same database when it held only 10,000 watched
  items (the reference): ``pick / pick at 10k`` ≈ 1 means the pick is O(due), not
  O(watched);
* ``count(*)`` over the watched items, for scale (what reading every row at least costs);
* on SQLite with 100,000 watched items (10 lists of 10,000), on PostgreSQL with
  1,000,000 (100 lists of 10,000; ``--quick``: 200,000) — PostgreSQL from
  :mod:`jditem.server.devservices` (binaries needed).

The plan of the pick is printed (it must be an index range scan). The last line is one
JSON object (``tick_ms_sqlite_100k``, ``tick_ms_postgres_1m``, the scans, N).

    .venv/bin/python benchmarks/watch_tick.py            # --rounds 15
    .venv/bin/python benchmarks/watch_tick.py --quick    # PostgreSQL with 200,000 items
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from jditem.server.jobs.watch_scheduler import pick_due
from jditem.server.store.db import Database, migrate
from jditem.server.store.watch_tables import WatchItemRow

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
DUE = 500  # items due at NOW (one tick's batch)
PER_LIST = 10_000
SMALL = 10_000  # watched items of the reference pick
INTERVAL = 3600


async def _seed_common(db: Database, lists: int) -> None:
    async with db.writing() as session:
        await session.execute(
            text("INSERT INTO accounts (id, name, balance, created_at) VALUES (1, 'b', 0, :t)"),
            {"t": NOW},
        )
        await session.execute(
            text(
                "INSERT INTO tokens (id, account_id, name, prefix, token_hash, enabled, "
                "permissions, spent, created_at) VALUES (1, 1, 't', 'p', 'h', true, '[]', 0, :t)"
            ),
            {"t": NOW},
        )
        for n in range(1, lists + 1):
            await session.execute(
                text(
                    "INSERT INTO watch_lists (id, account_id, token_id, name, interval_seconds, "
                    "daily_budget, paused, created_at, updated_at) "
                    "VALUES (:i, 1, 1, :n, :iv, 0, false, :t, :t)"
                ),
                {"i": n, "n": f"l{n}", "iv": INTERVAL, "t": NOW},
            )


def _when(i: int, total: int) -> datetime:
    """Item i's next check: the first DUE are due at NOW, the rest over the next hour."""
    return NOW + timedelta(seconds=(i - DUE + 1) * INTERVAL / total)


async def seed_sqlite(db: Database, total: int, start: int, stop: int) -> None:
    lists = total // PER_LIST
    rows = [
        {
            "list_id": i % lists + 1,
            "account_id": 1,
            "item_id": str(100_000_000_000 + i),
            "active": True,
            "next_check_at": _when(i, total),
            "added_at": NOW,
        }
        for i in range(start, stop)
    ]
    async with db.writing() as session:
        for first in range(0, len(rows), 20_000):
            await session.execute(insert(WatchItemRow), rows[first : first + 20_000])


async def seed_postgres(db: Database, total: int, start: int, stop: int) -> None:
    lists = total // PER_LIST
    async with db.writing() as session:
        await session.execute(
            text(
                "INSERT INTO watch_items (list_id, account_id, item_id, active, next_check_at, "
                "added_at) SELECT g % :lists + 1, 1, (100000000000 + g)::text, true, "
                "CAST(:now AS timestamptz) + (g - :due + 1) * make_interval(secs => :step), :now "
                "FROM generate_series(:start, :stop - 1) AS g"
            ),
            {
                "lists": lists,
                "now": NOW,
                "due": DUE,
                "step": INTERVAL / total,
                "start": start,
                "stop": stop,
            },
        )
    async with db.engine.connect() as conn:
        await conn.execute(text("ANALYZE watch_items"))
        await conn.commit()


async def timed(rounds: int, call: Any) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def pick_ms(db: Database, rounds: int) -> float:
    due, _lists = await pick_due(db, NOW, DUE)
    assert len(due) == DUE, len(due)

    async def pick() -> None:
        await pick_due(db, NOW, DUE)

    await pick()  # warm
    return await timed(rounds, pick)


async def measure(
    db: Database, total: int, rounds: int, plan_sql: str, seed: Any
) -> dict[str, Any]:
    """Pick with SMALL watched, grow to ``total``, pick again; count(*) and the plan."""
    await _seed_common(db, total // PER_LIST)
    await seed(db, total, 0, SMALL)
    small_ms = await pick_ms(db, rounds)
    await seed(db, total, SMALL, total)
    big_ms = await pick_ms(db, rounds)

    async def scan() -> None:
        async with db.reading() as session:
            await session.scalar(text("SELECT count(*) FROM watch_items"))

    await scan()
    scan_ms = await timed(rounds, scan)
    async with db.reading() as session:
        plan = [" ".join(str(c) for c in row) for row in await session.execute(text(plan_sql))]
    return {"pick_ms": big_ms, "small_ms": small_ms, "scan_ms": scan_ms, "plan": plan}


PICK = (
    "SELECT id, list_id, account_id, item_id, next_check_at FROM watch_items "
    "WHERE active = true AND next_check_at <= '{now}' ORDER BY next_check_at LIMIT 500"
)


async def run_sqlite(total: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        db = Database.from_url(f"sqlite+aiosqlite:///{Path(folder) / 'tick.db'}")
        try:
            await migrate(db.engine)
            now = NOW.replace(tzinfo=None).isoformat(sep=" ")
            plan = "EXPLAIN QUERY PLAN " + PICK.format(now=now)
            return await measure(db, total, rounds, plan, seed_sqlite)
        finally:
            await db.dispose()


async def run_postgres(total: int, rounds: int) -> dict[str, Any]:
    from jditem.server.devservices.postgres import start_cluster

    cluster = start_cluster()
    try:
        db = Database.from_url(cluster.url(cluster.create_database("tick")))
        try:
            await migrate(db.engine)
            plan = "EXPLAIN " + PICK.format(now=NOW.isoformat())
            return await measure(db, total, rounds, plan, seed_postgres)
        finally:
            await db.dispose()
    finally:
        cluster.stop()


def report(store: str, items: int, found: dict[str, Any]) -> None:
    print(
        f"{store}, {DUE} due: pick among {items:,} watched {found['pick_ms']:.2f} ms, "
        f"among {SMALL:,} {found['small_ms']:.2f} ms (ratio "
        f"{found['pick_ms'] / found['small_ms']:.2f}); count(*) of {items:,} "
        f"{found['scan_ms']:.2f} ms"
    )
    print("  plan: " + " | ".join(found["plan"][:3]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="PostgreSQL with 200,000 items")
    parser.add_argument("--sqlite-items", type=int, default=100_000)
    parser.add_argument("--postgres-items", type=int, default=None)
    args = parser.parse_args()
    pg_items = args.postgres_items or (200_000 if args.quick else 1_000_000)
    started = time.monotonic()
    lite = asyncio.run(run_sqlite(args.sqlite_items, args.rounds))
    report("sqlite", args.sqlite_items, lite)
    pg = asyncio.run(run_postgres(pg_items, args.rounds))
    report("postgresql", pg_items, pg)
    print(f"({time.monotonic() - started:.0f} s)")
    print(
        json.dumps(
            {
                "tick_ms_sqlite_100k": round(lite["pick_ms"], 2),
                "tick_ms_sqlite_10k": round(lite["small_ms"], 2),
                "count_ms_sqlite_100k": round(lite["scan_ms"], 2),
                "tick_ms_postgres_1m": round(pg["pick_ms"], 2),
                "tick_ms_postgres_10k": round(pg["small_ms"], 2),
                "count_ms_postgres_1m": round(pg["scan_ms"], 2),
                "sqlite_items": args.sqlite_items,
                "postgres_items": pg_items,
                "due": DUE,
            }
        )
    )


if __name__ == "__main__":
    main()
