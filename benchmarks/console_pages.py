"""Console page timings on a large database.

Seeds a fresh SQLite database (the real schema, via the app's migrations) with
1,000,000 call records spread over 30 days, their hourly rollups, a ledger row per
charged call, 50 tokens on 5 accounts and 50,000 tasks, then signs in to the real
app (in-process ASGI, the real lifespan) as the operator and as an owner of one account
(its pages filtered to that account, SPEC §2.9) and requests every console page several
times as each. Reports the server time of each page (the ``Server-Timing`` header the
console sets: dependency start to rendered response) and the client-side wall time.

    python benchmarks/console_pages.py [--records 1000000] [--repeat 5] [--keep DIR]

Aim: every page < 1 s server time.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from argon2 import PasswordHasher

from jditem.server.app import create_app
from jditem.server.settings import Settings
from jditem.server.store.db import Database, migrate

ACCOUNTS = 5
TOKENS = 50
ITEMS = 50_000
DAYS = 30
PRICE = 100
#: Code mix of the seeded calls (weights).
CODES = {0: 80, 102: 10, 302: 4, 202: 2, 301: 2, 400: 1, 601: 1}
TS = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DateTime storage format
MEMBER_EMAIL = "owner@acct-1.example"
MEMBER_PASSWORD = "benchmark password 1"


def _ts(value: datetime) -> str:
    return value.strftime(TS)


async def _create_schema(settings: Settings) -> None:
    db = Database.from_url(settings.effective_database_url)
    await migrate(db.engine)
    await db.dispose()


def seed(path: Path, records: int, rng: random.Random) -> dict[str, float]:
    """Fill the database with executemany inside one transaction per table."""
    started = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=DAYS)
    with conn:
        conn.executemany(
            "INSERT INTO accounts (id, name, balance, created_at) VALUES (?, ?, ?, ?)",
            [(i, f"acct-{i}", 10**10, _ts(start)) for i in range(1, ACCOUNTS + 1)],
        )
        conn.executemany(
            "INSERT INTO tokens (id, account_id, name, prefix, token_hash, enabled, permissions,"
            " rate_limit, burst, daily_quota, budget, spent, created_at)"
            " VALUES (?, ?, ?, ?, ?, 1, '[\"jd/get-item-detail/v2\"]', 10.0, 20, NULL, NULL,"
            " 0, ?)",
            [
                (
                    i,
                    1 + i % ACCOUNTS,
                    f"bench-{i}",
                    f"jd_b{i:04d}",
                    secrets.token_hex(32),
                    _ts(start),
                )
                for i in range(1, TOKENS + 1)
            ],
        )
    codes, weights = list(CODES), list(CODES.values())
    span = int((now - start).total_seconds())
    offsets = sorted(rng.randrange(span) for _ in range(records))
    rollup: dict[tuple[str, int, int], list[int]] = defaultdict(lambda: [0, 0])
    calls, ledger = [], []
    spent: dict[int, int] = defaultdict(int)
    for n, offset in enumerate(offsets):
        created = start + timedelta(seconds=offset, microseconds=rng.randrange(1_000_000))
        token = rng.randrange(1, TOKENS + 1)
        account = 1 + token % ACCOUNTS
        code = rng.choices(codes, weights)[0]
        item = str(100_000_000 + rng.randrange(ITEMS))
        charged = PRICE if code == 0 else 0
        request_id = f"bench{n:021d}"
        calls.append(
            (
                request_id,
                token,
                account,
                "jd/get-item-detail/v2",
                item,
                code,
                charged,
                f"t_bench{rng.randrange(ITEMS):08d}",
                rng.randrange(5, 3000),
                _ts(created),
            )
        )
        hour = _ts(created.replace(minute=0, second=0, microsecond=0))
        entry = rollup[(hour, token, code)]
        entry[0] += 1
        entry[1] += charged
        if charged:
            spent[token] += charged
            ledger.append((account, token, "charge", -charged, request_id, item, _ts(created)))
    generated = time.perf_counter()
    with conn:
        conn.executemany(
            "INSERT INTO call_records (request_id, token_id, account_id, endpoint, item_id, code,"
            " charged, task_id, latency_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            calls,
        )
        conn.executemany(
            "INSERT INTO usage_hourly (hour, token_id, code, calls, spend) VALUES (?, ?, ?, ?, ?)",
            [(h, t, c, v[0], v[1]) for (h, t, c), v in rollup.items()],
        )
        conn.executemany(
            "INSERT INTO ledger (account_id, token_id, kind, amount, request_id, item_id,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            ledger,
        )
        conn.executemany(
            "UPDATE tokens SET spent = ? WHERE id = ?", [(v, k) for k, v in spent.items()]
        )
        statuses = ["succeeded"] * 90 + ["not_supported"] * 4 + ["failed"] * 6
        conn.executemany(
            "INSERT INTO tasks (id, item_id, status, attempt, max_attempts, submitted_at,"
            " started_at, finished_at, error) VALUES (?, ?, ?, 1, 3, ?, ?, ?, ?)",
            [
                (
                    f"t_bench{i:08d}",
                    str(100_000_000 + i),
                    status := rng.choice(statuses),
                    _ts(t := start + timedelta(seconds=rng.randrange(span))),
                    _ts(t),
                    _ts(t + timedelta(seconds=1)),
                    "collection failed: sandbox" if status == "failed" else None,
                )
                for i in range(ITEMS)
            ],
        )
        conn.execute(
            "INSERT INTO members (id, account_id, email, role, password_hash, created_at)"
            " VALUES (1, 1, ?, 'owner', ?, ?)",
            (MEMBER_EMAIL, PasswordHasher().hash(MEMBER_PASSWORD), _ts(start)),
        )
    conn.execute("ANALYZE")
    conn.close()
    return {"generate_s": generated - started, "insert_s": time.perf_counter() - generated}


PAGES = [
    "/console",
    "/console/tokens",
    "/console/balance",
    "/console/balance?account=acct-1",
    "/console/calls",
    "/console/calls?token=7",
    "/console/calls?code=301",
    "/console/calls?item=100000042",
    "/console/calls?token=7&code=0&from={week_ago}&to={today}",
    "/console/calls?page=200",
    "/console/trends",
    "/console/trends?range=30d",
    "/console/spending",
    "/console/spending?range=90d",
    "/console/tasks",
    "/console/tasks?status=failed",
    "/console/tasks/t_bench00000042",
    "/console/jobs",
    "/console/calls.csv?token=7&code=301",
]


async def _sign_in(client: httpx.AsyncClient, fields: dict[str, str]) -> None:
    form = await client.get("/console/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token, "the sign-in page has no form token"
    signed = await client.post("/console/login", data={"login_token": token.group(1), **fields})
    assert signed.status_code == 303, signed.text


async def _time_pages(
    client: httpx.AsyncClient, repeat: int, fill: dict[str, str]
) -> list[tuple[str, float, float, float, int]]:
    results = []
    for template in PAGES:
        path = template.format(**fill)
        server_ms, wall_ms, size = [], [], 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            response = await client.get(path)
            wall_ms.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, (path, response.status_code, response.text[:300])
            size = len(response.content)
            timing = response.headers.get("server-timing", "")
            match = re.search(r"dur=([0-9.]+)", timing)
            server_ms.append(float(match.group(1)) if match else wall_ms[-1])
        results.append(
            (path, statistics.median(server_ms), max(server_ms), statistics.median(wall_ms), size)
        )
    return results


async def measure(
    settings: Settings, repeat: int
) -> dict[str, list[tuple[str, float, float, float, int]]]:
    """Sign in as the operator and as acct-1's owner, then request each page ``repeat``
    times as each; per role: (page, median, max, wall, bytes)."""
    app = create_app(settings)
    today = datetime.now(UTC).date()
    fill = {"today": today.isoformat(), "week_ago": (today - timedelta(days=7)).isoformat()}
    key = settings.admin_key.get_secret_value() if settings.admin_key else ""
    roles = {
        "operator": {"admin_key": key},
        "member": {"email": MEMBER_EMAIL, "password": MEMBER_PASSWORD},
    }
    results = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        for role, fields in roles.items():
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                await _sign_in(client, fields)
                results[role] = await _time_pages(client, repeat, fill)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--keep", type=Path, default=None, help="Keep the database in this directory."
    )
    args = parser.parse_args()
    home = args.keep or Path(tempfile.mkdtemp(prefix="jditem-bench-console-"))
    home.mkdir(parents=True, exist_ok=True)
    settings = Settings(home=home, admin_key=secrets.token_urlsafe(32), workers=0)
    db_path = home / "server.db"
    if db_path.exists():
        print(f"{db_path} exists: pass an empty --keep directory", file=sys.stderr)
        return 2
    asyncio.run(_create_schema(settings))
    seeding = seed(db_path, args.records, random.Random(args.seed))
    size_mb = db_path.stat().st_size / 1e6
    print(
        f"seeded {args.records:,} call records (+ rollups, ledger, {ITEMS:,} tasks) in "
        f"{seeding['generate_s']:.1f} s generate + {seeding['insert_s']:.1f} s insert; "
        f"database {size_mb:.0f} MB"
    )
    results = asyncio.run(measure(settings, args.repeat))
    print(
        "\n| page | operator server median (ms) | max | wall | member server median (ms)"
        " | max | wall | member / operator | operator bytes | member bytes |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    for operator, member in zip(results["operator"], results["member"], strict=True):
        path, op_median, op_max, op_wall, op_size = operator
        _path, m_median, m_max, m_wall, m_size = member
        worst = max(worst, op_max, m_max)
        ratio = m_median / op_median if op_median else float("nan")
        print(
            f"| `{path}` | {op_median:.0f} | {op_max:.0f} | {op_wall:.0f} | {m_median:.0f} "
            f"| {m_max:.0f} | {m_wall:.0f} | {ratio:.2f} | {op_size:,} | {m_size:,} |"
        )
    print(f"\nslowest page (max server time, either role): {worst:.0f} ms — target < 1000 ms")
    return 0 if worst < 1000 else 1


if __name__ == "__main__":
    raise SystemExit(main())
