"""The parts of a scaled-out call, one at a time: CPU per rate-limit take and per charge.

Diagnosis for issue 22 (``benchmarks/README.md``, "Where the CPU goes"): in one
process (this one, like an API process: uvloop, the server's own classes) against a
throwaway PostgreSQL and Redis (``jditem.server.devservices``) and a SQLite file:

* **rate limit**: ``RedisRateLimiter.acquire`` (one ``EVALSHA`` per call) at 32 calls
  in flight, against the same script sent for 32 calls in one pipeline (what a
  per-tick batch of takes would cost), and the in-memory limiter of the embedded
  profile;
* **charge**: ``apply_batch`` (the group commit of charges with their call records)
  through ``Database.write_batch`` for batches of 1, 8 and 32 calls, on PostgreSQL with
  the engine the server uses (``pool_pre_ping`` on) and with pre-ping off, as the charge
  batcher applies them on its held connection (``apply_batch``, and the one-statement
  ``jditem_charge_batch`` of ``accounts/charge_function.py``), and on a SQLite file:
  through the writer thread, and as the embedded server commits them
  (``Database.write_charges``: on the event loop's own thread).

Reported per call: CPU µs of this process (``time.process_time``: the API process's
share) and of the PostgreSQL or Redis server processes (``/proc``). Nothing here is a
throughput figure, so the machine's load matters little.

Run: ``.venv/bin/python benchmarks/scale_out_parts.py [--calls 4000]``
(imports server internals: after a reorganisation of ``src/``, update the imports.)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import uvloop
from sqlalchemy.ext.asyncio import create_async_engine

from jditem.server import devservices
from jditem.server.accounts import charge_function, service
from jditem.server.accounts.batcher import ChargeRequest, apply_batch
from jditem.server.accounts.usage import CallRow
from jditem.server.shared.limiter import InMemoryRateLimiter
from jditem.server.shared.limiter_redis import BUCKET_LUA, RedisRateLimiter
from jditem.server.shared.redis_link import RedisLink
from jditem.server.store.db import Database, create_sessionmaker, migrate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procstat import tree_cpu

CONCURRENCY = 32


async def measure(
    label: str, calls: int, step: Callable[[int], Awaitable[int]], server_pid: int | None
) -> None:
    """Run ``step(n)`` (which handles ``n`` calls and returns how many) until ``calls``."""
    await step(1)  # warm-up (prepared statements, script load)
    server_before = tree_cpu(server_pid) if server_pid else 0.0
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    done = 0
    while done < calls:
        done += await step(calls - done)
    cpu = time.process_time() - cpu_before
    wall = time.perf_counter() - wall_before
    server = tree_cpu(server_pid) - server_before if server_pid else 0.0
    print(
        f"| {label} | {cpu * 1e6 / done:,.0f} | {server * 1e6 / done:,.0f} | {done / wall:,.0f} |"
    )


async def rate_limits(services: devservices.DevServices, calls: int) -> None:
    redis_pid = int((services.redis.root / "redis.pid").read_text())
    link = RedisLink(services.redis_url)
    await link.start()
    limiter = RedisRateLimiter(link)
    script = link.client.register_script(BUCKET_LUA)
    memory = InMemoryRateLimiter()

    async def shared(n: int) -> int:
        k = min(n, CONCURRENCY)
        await asyncio.gather(*(limiter.acquire("token:1", 1e5, 10**6) for _ in range(k)))
        return k

    async def pipelined(n: int) -> int:
        k = min(n, CONCURRENCY)
        async with link.client.pipeline(transaction=False) as pipe:
            for _ in range(k):
                await script(keys=["jditem:bucket:token:2"], args=[1e5, 10**6, "take"], client=pipe)
            await pipe.execute()
        return k

    async def in_memory(n: int) -> int:
        k = min(n, CONCURRENCY)
        await asyncio.gather(*(memory.acquire("token:1", 1e5, 10**6) for _ in range(k)))
        return k

    print("\n| rate limit, 32 calls in flight | this process µs/call | Redis µs/call | calls/s |")
    print("|---|---:|---:|---:|")
    await measure("Redis: the limiter (one EVALSHA per tick per key)", calls, shared, redis_pid)
    await measure("Redis: 32 takes in one pipeline", calls, pipelined, redis_pid)
    await measure("in memory (embedded)", calls, in_memory, None)
    await link.stop()


def _requests(account: int, token: int, k: int) -> list[ChargeRequest]:
    now = datetime.now(UTC)
    out = []
    for i in range(k):
        rid = f"01JD{time.perf_counter_ns():022d}{i}"[:26]
        call = CallRow(rid, token, account, "v2", "100012043978", 0, 100, None, 3, now)
        out.append(ChargeRequest(account, token, 100, rid, "100012043978", now, call=call))
    return out


async def _prepared(db: Database) -> tuple[int, int]:
    await migrate(db.engine)
    async with db.sessionmaker() as session:  # the service functions commit
        account = await service.create_account(session, "bench", 10**14)
        token, _ = await service.create_token(session, "bench", name="b")
    return account.id, token.id


def _batches(db: Database, account: int, token: int, k: int) -> Callable[[int], Awaitable[int]]:
    async def step(n: int) -> int:
        size = min(n, k)
        await db.write_batch(apply_batch, _requests(account, token, size))
        return size

    return step


def _held(
    db: Database, account: int, token: int, k: int, *, function: bool
) -> Callable[[int], Awaitable[int]]:
    """Batches as the charge batcher applies them: on PostgreSQL on its held connection,
    by ``apply_batch`` (SQLAlchemy, ~9 round trips) or by the one-statement function; on
    a SQLite file (``function=False``) on the event loop's thread."""

    async def step(n: int) -> int:
        size = min(n, k)
        batch = _requests(account, token, size)
        if function:
            await db.write_on_driver(charge_function.apply_function, batch)
        else:
            await db.write_charges(apply_batch, batch)
        return size

    return step


async def _pg_database(cluster: devservices.PgCluster, pre_ping: bool) -> tuple[Database, str]:
    name = cluster.create_database("parts")
    url = cluster.url(name)
    if pre_ping:
        return Database.from_url(url), name  # the engine the server builds
    engine = create_async_engine(url, pool_size=10, max_overflow=30, pool_pre_ping=False)
    return Database(engine=engine, sessionmaker=create_sessionmaker(engine)), name


async def charges(services: devservices.DevServices, calls: int) -> None:
    cluster = services.postgres
    postmaster = int((cluster.datadir / "postmaster.pid").read_text().split()[0])
    print(
        "\n| charge group commit (apply_batch) | this process µs/call | PostgreSQL µs/call "
        "| calls/s |"
    )
    print("|---|---:|---:|---:|")
    for pre_ping in (True, False):
        db, name = await _pg_database(cluster, pre_ping)
        account, token = await _prepared(db)
        ping = "pre-ping on (as served)" if pre_ping else "pre-ping off"
        for k in (1, 8, 32):
            step = _batches(db, account, token, k)
            await measure(f"PostgreSQL, {k} per batch, {ping}", calls, step, postmaster)
        await db.dispose()
        cluster.drop_database(name)
    db, name = await _pg_database(cluster, pre_ping=True)  # as served: the held connection
    account, token = await _prepared(db)
    for k in (1, 8, 32):
        step = _held(db, account, token, k, function=False)
        await measure(f"PostgreSQL, {k} per batch, held connection", calls, step, postmaster)
    for k in (1, 8, 32):
        step = _held(db, account, token, k, function=True)
        await measure(
            f"PostgreSQL, {k} per batch, one statement (jditem_charge_batch)",
            calls,
            step,
            postmaster,
        )
    await db.dispose()
    cluster.drop_database(name)
    with tempfile.TemporaryDirectory() as home:
        db = Database.from_url(f"sqlite+aiosqlite:///{home}/server.db")
        account, token = await _prepared(db)
        for k in (1, 8, 16, 32):
            step = _batches(db, account, token, k)
            await measure(f"SQLite file (writer thread), {k} per batch", calls, step, None)
        for k in (1, 8, 16, 32):
            label = f"SQLite file, {k} per batch, on the event loop's thread (as served)"
            await measure(label, calls, _held(db, account, token, k, function=False), None)
        await db.dispose()


#: The 4 foreign keys migration 0017 dropped, as DDL that adds them back.
_FOREIGN_KEYS = tuple(
    f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_{column}_{parent}"
    f" FOREIGN KEY ({column}) REFERENCES {parent} (id)"
    for table in ("ledger", "call_records")
    for column, parent in (("account_id", "accounts"), ("token_id", "tokens"))
)
#: The schema variants of ``--schema``: DDL applied after the migrations (to head).
SCHEMAS: dict[str, tuple[str, ...]] = {
    "before 0017 (every index, the 4 foreign keys)": (
        "CREATE INDEX ix_ledger_token_id ON ledger (token_id)",
        "CREATE INDEX ix_ledger_created_at ON ledger (created_at)",
        "DROP INDEX ix_call_records_code_created",
        "CREATE INDEX ix_call_records_code_created ON call_records (code, created_at)",
        *_FOREIGN_KEYS,
    ),
    "0017's indexes, the 4 foreign keys kept": _FOREIGN_KEYS,
    "0017 (as migrated)": (),
}


async def schemas(services: devservices.DevServices, calls: int, rounds: int) -> None:
    """The one-statement charge on each schema variant, in alternating rounds."""
    cluster = services.postgres
    postmaster = int((cluster.datadir / "postmaster.pid").read_text().split()[0])
    prepared = []
    for label, ddl in SCHEMAS.items():
        db, name = await _pg_database(cluster, pre_ping=True)
        account, token = await _prepared(db)
        async with db.engine.begin() as connection:
            for statement in ddl:
                await connection.exec_driver_sql(statement)
        prepared.append((label, db, name, account, token))
    print(
        "\n| schema, one statement per batch | this process µs/call | PostgreSQL µs/call "
        "| calls/s |"
    )
    print("|---|---:|---:|---:|")
    for k in (8, 32):
        for _ in range(rounds):
            for label, db, _name, account, token in prepared:
                step = _held(db, account, token, k, function=True)
                await measure(f"{label}, {k} per batch", calls, step, postmaster)
    for _label, db, name, _account, _token in prepared:
        await db.dispose()
        cluster.drop_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument(
        "--schema",
        type=int,
        metavar="ROUNDS",
        help="only the schema variants (indexes, foreign keys), in ROUNDS alternating rounds",
    )
    args = parser.parse_args()
    services = devservices.start()
    try:
        if args.schema:
            uvloop.run(schemas(services, args.calls, args.schema))
            return
        uvloop.run(rate_limits(services, args.calls))
        uvloop.run(charges(services, args.calls))
    finally:
        services.stop()


if __name__ == "__main__":
    main()
