"""What the charge function's 20 array arguments cost the API process (issue 22 aim 1).

One asyncpg connection to a throwaway PostgreSQL (``jditem.server.devservices``), three
statements in alternating rounds, client CPU (``time.process_time``) per call:

* ``SELECT 1`` — a round trip with nothing to encode;
* ``arrays`` — a function with ``jditem_charge_batch``'s signature (migration
  ``0016_charge_function``) that only counts its input, called with a batch of
  ``--batch`` charges laid out as ``accounts/charge_function.arguments`` lays them out;
* ``json`` — the same values as ONE JSON text argument (built in Python per call).

The differences are the encoding's share of a charge batch's client CPU. Run:
``.venv/bin/python benchmarks/charge_encoding.py [--batch 8] [--calls 3000]``
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from jditem.server.devservices.postgres import database_user, start_cluster

ARGUMENTS: str = importlib.import_module(
    "jditem.server.store.migrations.versions.0016_charge_function"
).ARGUMENTS


def batch_arrays(n: int) -> list[list[Any]]:
    """A batch of ``n`` charges with call records, as the charge function receives it."""
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    ids = [f"req_{i:020d}" for i in range(n)]
    item = "100012043978"
    return [
        [1] * n, [2] * n, [100] * n, ids, [item] * n, [now] * n, [None] * n, [None] * n,
        ids, [2] * n, [1] * n, ["v2"] * n, [item] * n, [0] * n, [100] * n, [None] * n,
        [3] * n, [now] * n, [None] * n, [hour] * n,
    ]  # fmt: skip


def as_json(arrays: list[list[Any]]) -> list[str]:
    """The batch as one JSON text (times as epoch seconds)."""
    rows = zip(*arrays, strict=True)
    return [
        json.dumps([[v.timestamp() if isinstance(v, datetime) else v for v in r] for r in rows])
    ]


async def cpu_per_call(conn: Any, sql: str, args: Callable[[], list[Any]], calls: int) -> float:
    """Client CPU µs per ``fetchval`` of ``sql`` (after a warm-up)."""
    for _ in range(100):
        await conn.fetchval(sql, *args())
    start = time.process_time()
    for _ in range(calls):
        await conn.fetchval(sql, *args())
    return 1e6 * (time.process_time() - start) / calls


async def main(batch: int, calls: int, rounds: int) -> None:
    cluster = start_cluster()
    try:
        name = cluster.create_database("encoding")
        conn = await asyncpg.connect(
            host=str(cluster.socket_dir), database=name, user=database_user()
        )
        await conn.execute(
            f"CREATE FUNCTION f({ARGUMENTS}) RETURNS int LANGUAGE sql "
            "AS $$ SELECT cardinality(p_token) $$"
        )
        await conn.execute(
            "CREATE FUNCTION g(p text) RETURNS int LANGUAGE sql "
            "AS $$ SELECT json_array_length(p::json) $$"
        )
        arrays = batch_arrays(batch)
        cases: dict[str, tuple[str, Callable[[], list[Any]]]] = {
            "SELECT 1": ("SELECT 1", list),
            "arrays": (
                "SELECT f(" + ", ".join(f"${i}" for i in range(1, 21)) + ")",
                lambda: arrays,
            ),
            "json": ("SELECT g($1)", lambda: as_json(arrays)),
        }
        results: dict[str, list[float]] = {label: [] for label in cases}
        for _ in range(rounds):
            for label, (sql, args) in cases.items():
                results[label].append(await cpu_per_call(conn, sql, args, calls))
        await conn.close()
    finally:
        cluster.stop()
    base = statistics.median(results["SELECT 1"])
    print(f"batch of {batch} charges, {calls} calls x {rounds} rounds (median)\n")
    print("| statement | client CPU µs per call | minus SELECT 1 | per charge |")
    print("|---|---:|---:|---:|")
    for label, values in results.items():
        cpu = statistics.median(values)
        print(f"| {label} | {cpu:.1f} | {cpu - base:.1f} | {(cpu - base) / batch:.1f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8, help="charges per batch (8)")
    parser.add_argument("--calls", type=int, default=3000, help="calls per round (3000)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (3)")
    options = parser.parse_args()
    asyncio.run(main(options.batch, options.calls, options.rounds))
