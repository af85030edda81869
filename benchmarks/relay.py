"""Relay: a cached item through the relay vs. the upstream directly; upstream calls per item.

Two real jditem servers run as subprocesses on 127.0.0.1 (uvicorn, one process each,
no access log): an *upstream* (the sandbox collector, standing in for the vendor) and a
*relay* (``collector = relay``) in front of it with one upstream token.

1. **Cached item, side by side.** The same item is cached on both servers; rounds
   alternate *direct* (callers → upstream) and *relay* (callers → relay, which answers
   from its own cache and never calls the upstream), each loaded by an httpx async
   client at concurrency 16. Reported: median round's requests/s and p50/p99, and the
   relay / direct latency ratio. Aim: relay overhead on a cached item ≤ 1.2× a direct
   call.
2. **Skewed workload.** Many concurrent callers (three tokens) ask for items drawn from
   a Zipf-like distribution (a few hot items, a long tail), each calling until it gets
   the product. Reported from the relay's database: upstream charged calls per unique
   item. Aim: 1.00 (coalescing + cache: the team pays once per item).

Run: ``.venv/bin/python benchmarks/relay.py [--seconds 4] [--rounds 3] [--callers 400]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ITEM = "100012043978"
PATH = "/api/jd/get-item-detail/v2"
CONCURRENCY = 16


# ----------------------------------------------------------------- child mode


def serve(kind: str, port: int, home: str, upstream: str, upstream_token: str) -> None:
    """Child: create an account and three tokens, print them, run uvicorn."""
    import uvicorn

    from jditem.cli.serve import run_with_session
    from jditem.server.accounts import service
    from jditem.server.app import create_app
    from jditem.server.settings import Settings

    values: dict[str, Any] = {
        "home": Path(home),
        "admin_key": None,
        "default_rate_limit": None,
        "default_burst": None,
        "sandbox_latency_ms": (200, 400),
    }
    if kind == "relay":
        values.update(
            collector="relay",
            upstream=upstream,
            upstream_token=upstream_token,
            upstream_endpoints="v2",
            upstream_rate=200.0,
            upstream_burst=50,
        )
    settings = Settings(**values)

    async def make_tokens(session: Any) -> list[str]:
        await service.create_account(session, "bench", 10**14)
        return [(await service.create_token(session, "bench", name=f"t{i}"))[1] for i in range(3)]

    tokens = run_with_session(settings, make_tokens)
    print(json.dumps({"tokens": tokens}), flush=True)
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(kind: str, home: str, upstream: str = "", token: str = "") -> tuple[Any, str, list[str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JDITEM_")}
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--port", str(port), "--home", home,
         "--upstream", upstream, "--upstream-token", token],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    tokens = json.loads(proc.stdout.readline())["tokens"]
    return proc, f"http://127.0.0.1:{port}", tokens


def stop(proc: Any) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# ----------------------------------------------------------------- load


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


async def until_ready(client: Any, base: str, token: str, item: str, calls: int = 200) -> int:
    """Call until code 0; returns the number of calls made."""
    for n in range(1, calls + 1):
        body = (
            await client.get(
                base + PATH, params={"itemId": item}, headers={"Authorization": f"Bearer {token}"}
            )
        ).json()
        if body["code"] == 0:
            return n
        if body["code"] != 102:
            raise RuntimeError(f"item {item}: code {body['code']} {body['message']}")
    raise RuntimeError(f"item {item} still pending after {calls} calls")


async def load(base: str, token: str, seconds: float) -> Result:
    import httpx

    latencies: list[float] = []
    errors = 0
    url = f"{base}{PATH}?itemId={ITEM}"
    headers = {"Authorization": f"Bearer {token}"}
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                response = await client.get(url)
                latencies.append((time.perf_counter() - t0) * 1000)
                errors += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return Result(
        len(latencies) / elapsed,
        latencies[len(latencies) // 2],
        latencies[int(len(latencies) * 0.99)],
        errors,
    )


def zipf_items(callers: int, unique: int, seed: int = 7) -> list[str]:
    """``callers`` item ids drawn with weight 1/rank from ``unique`` ids (seeded)."""
    rng = random.Random(seed)
    ids = [str(7_000_000 + n) for n in range(unique)]
    weights = [1 / (rank + 1) for rank in range(unique)]
    return rng.choices(ids, weights, k=callers)


async def skewed(base: str, tokens: list[str], items: list[str]) -> int:
    import httpx

    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        semaphore = asyncio.Semaphore(64)

        async def one(index: int, item: str) -> int:
            async with semaphore:
                return await until_ready(client, base, tokens[index % len(tokens)], item)

        calls = await asyncio.gather(*(one(i, item) for i, item in enumerate(items)))
    return sum(calls)


def median(results: list[Result]) -> Result:
    return sorted(results, key=lambda r: r.p50_ms)[len(results) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--callers", type=int, default=400)
    parser.add_argument("--unique", type=int, default=60)
    parser.add_argument("--serve", choices=["upstream", "relay"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--upstream", default="", help=argparse.SUPPRESS)
    parser.add_argument("--upstream-token", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.home, args.upstream, args.upstream_token)
        return
    import httpx

    homes = [
        tempfile.mkdtemp(prefix="jditem-bench-up-"),
        tempfile.mkdtemp(prefix="jditem-bench-relay-"),
    ]
    up_proc, up_url, up_tokens = start("upstream", homes[0])
    relay_proc = None
    try:
        relay_proc, relay_url, relay_tokens = start("relay", homes[1], up_url, up_tokens[0])

        async def warm() -> None:
            async with httpx.AsyncClient(timeout=60) as client:
                await until_ready(client, up_url, up_tokens[1], ITEM)
                await until_ready(client, relay_url, relay_tokens[0], ITEM)

        asyncio.run(warm())
        direct: list[Result] = []
        relayed: list[Result] = []
        asyncio.run(load(up_url, up_tokens[1], 1.0))  # warm-up rounds, not reported
        asyncio.run(load(relay_url, relay_tokens[0], 1.0))
        for _ in range(args.rounds):
            direct.append(asyncio.run(load(up_url, up_tokens[1], args.seconds)))
            relayed.append(asyncio.run(load(relay_url, relay_tokens[0], args.seconds)))
        items = zipf_items(args.callers, args.unique)
        started = time.perf_counter()
        calls = asyncio.run(skewed(relay_url, relay_tokens, items))
        skew_seconds = time.perf_counter() - started
        with sqlite3.connect(Path(homes[1]) / "server.db") as conn:
            charged = int(
                conn.execute(
                    "SELECT COUNT(*) FROM upstream_calls WHERE charged AND item_id != ?", (ITEM,)
                ).fetchone()[0]
            )
            upstream_total = int(
                conn.execute(
                    "SELECT COUNT(*) FROM upstream_calls WHERE item_id != ?", (ITEM,)
                ).fetchone()[0]
            )
    finally:
        if relay_proc is not None:
            stop(relay_proc)
        stop(up_proc)
        for home in homes:
            shutil.rmtree(home, ignore_errors=True)
    d, r = median(direct), median(relayed)
    print(f"cached item, httpx async load, concurrency {CONCURRENCY}, {args.rounds} x "
          f"{args.seconds:g} s per side, rounds alternating")  # fmt: skip
    print()
    print("| path | requests/s | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|")
    for name, res in (("direct to the upstream", d), ("through the relay", r)):
        print(f"| {name} | {res.rps:,.0f} | {res.p50_ms:.2f} | {res.p99_ms:.2f} | {res.errors} |")
    print()
    print(
        f"relay / direct: p50 {r.p50_ms / d.p50_ms:.2f}x, throughput {r.rps / d.rps:.2f}x "
        "(aim: latency <= 1.2x)"
    )
    unique = len(set(items))
    print()
    print(
        f"skewed workload: {len(items)} callers (3 tokens), {unique} unique items (Zipf), "
        f"{calls} relay calls in {skew_seconds:.1f} s; upstream calls {upstream_total}, "
        f"upstream charged calls {charged}"
    )
    print(f"upstream charged calls per unique item: {charged / unique:.2f} (aim 1.00)")


if __name__ == "__main__":
    main()
