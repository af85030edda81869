"""Scale-out: cached charged calls/s and p99, embedded vs PostgreSQL + Redis, and the
cross-process wake-up latency.

Three deployments on this machine, in this run, each
loaded the same way (``wrk`` at concurrency 32 when installed, else an httpx client)
on ``GET /api/jd/get-item-detail/v2`` for one cached item with a valid token (every
answer is a charged code 0):

* ``embedded``      — ``jditem serve --db <sqlite file>`` (one process);
* ``scale-out x1``  — ``jditem serve --processes 1 --db postgresql://… --redis unix://…``;
* ``scale-out x2``  — the same with ``--processes 2``.

The three run at the same time (two idle while the third is loaded) and are loaded in
alternating rounds, so a change in the machine's load (other jobs) hits all alike; the
median round of each is reported. Each has 4 collection workers per process (idle).

PostgreSQL and Redis are throwaway instances (unix sockets in temp dirs, the ones the
test suite and ``jditem dev services`` use: ``jditem.server.devservices``).

Wake-up latency: with ``--processes 2 --workers 0`` and one ``jditem worker``, N first
calls for new items, one at a time; for each, the time from the task's ``finished_at``
(written by the worker process when it completed the task) to the caller receiving
the answer (the wake-up crossed processes through Redis; the waiter then reads the
result and charges the call). Both clocks are this machine's.

Run: ``.venv/bin/python benchmarks/scale_out.py [--seconds 8] [--rounds 3] [--wakeups 40]``
Aims (issue 8): 2 API processes >= 1.2x the embedded single process; wake-up p95 <= 50 ms.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from jditem.server.devservices.postgres import PgCluster, start_cluster
from jditem.server.devservices.redis_server import RedisServer, start_redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from server_hot_path import (  # noqa: E402
    CONCURRENCY,
    ITEM,
    PATH,
    Result,
    free_port,
    median_result,
    run_httpx,
    run_wrk,
    wait_ready,
)

JDITEM = str(Path(sys.executable).with_name("jditem"))
ADMIN_KEY = secrets.token_urlsafe(32)


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JDITEM_")}
    env.update(
        {
            "JDITEM_HOME": str(home),
            "JDITEM_ADMIN_KEY": ADMIN_KEY,
            "JDITEM_DEFAULT_RATE_LIMIT": "100000",
            "JDITEM_DEFAULT_BURST": "1000000",
            **extra,
        }
    )
    return env


@contextmanager
def running(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [JDITEM, *args], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=log.parent
        )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _admin(base: str, method: str, path: str, json: Any = None) -> Any:
    body = httpx.request(
        method, f"{base}/api/admin{path}", json=json, headers={"X-Admin-Key": ADMIN_KEY}
    ).json()
    assert body["code"] == 0, body
    return body["data"]


def _token(base: str) -> str:
    _admin(base, "POST", "/accounts", {"name": "bench", "balance_yuan": "100000000"})
    token: str = _admin(base, "POST", "/tokens", {"account": "bench", "name": "b"})["token"]
    return token


def _wait_health(base: str, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/api/health", timeout=5).json()["code"] == 0:
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"{base} did not become healthy within {seconds} s")


def _prepare(base: str) -> tuple[str, dict[str, str]]:
    token = _token(base)
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{base}{PATH}?itemId={ITEM}"
    wait_ready(url, headers)
    return url, headers


@contextmanager
def embedded() -> Iterator[str]:
    """``jditem serve --db <sqlite>`` running; yields its base URL."""
    home = Path(tempfile.mkdtemp(prefix="jditem-bench-emb-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        args = ["serve", "--db", str(home / "server.db"), "--port", str(port), "--workers", "4"]
        with running(args, _env(home), home / "serve.log"):
            _wait_health(base)
            yield base
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def scale_out(cluster: PgCluster, redis_url: str, processes: int) -> Iterator[str]:
    """``jditem serve --processes N --db postgresql://… --redis …`` running; base URL."""
    home = Path(tempfile.mkdtemp(prefix="jditem-bench-so-"))
    database = cluster.create_database("bench")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        args = [
            "serve",
            "--processes",
            str(processes),
            "--workers",
            "4",
            "--db",
            cluster.sync_url(database),
            "--redis",
            redis_url,
            "--port",
            str(port),
        ]
        with running(args, _env(home), home / "serve.log"):
            _wait_health(base)
            yield base
    finally:
        cluster.drop_database(database)
        shutil.rmtree(home, ignore_errors=True)


def bench_throughput(
    cluster: PgCluster, redis: RedisServer, seconds: float, rounds: int, loader: str
) -> list[Result]:
    """The three deployments run at once (idle but one), loaded in alternating rounds,
    so a change in the machine's load hits all three alike; median round of each."""
    run = run_wrk if loader == "wrk" else run_httpx
    with (
        embedded() as emb,
        scale_out(cluster, redis.url + "?db=1", 1) as one,  # own Redis database each
        scale_out(cluster, redis.url + "?db=2", 2) as two,
    ):
        targets = [_prepare(base) for base in (emb, one, two)]
        for url, headers in targets:
            run(url, headers, 2)  # warm-up
        results: list[list[Result]] = [[], [], []]
        for _ in range(rounds):
            for index, (url, headers) in enumerate(targets):
                results[index].append(run(url, headers, seconds))
    return [median_result(r) for r in results]


def bench_wakeups(cluster: PgCluster, redis: RedisServer, count: int) -> list[float]:
    """Milliseconds from task completion (worker process) to the caller's answer."""
    home = Path(tempfile.mkdtemp(prefix="jditem-bench-wake-"))
    database = cluster.create_database("wake")
    redis.flush()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    url = cluster.sync_url(database)
    env = _env(home, JDITEM_SANDBOX_LATENCY_MS="[100, 150]")
    serve = ["serve", "--processes", "2", "--workers", "0", "--db", url, "--redis", redis.url]
    worker = ["worker", "--db", url, "--redis", redis.url, "--workers", "4"]
    latencies: list[float] = []
    try:
        with running([*serve, "--port", str(port)], env, home / "serve.log"):
            _wait_health(base)
            with running(worker, env, home / "worker.log"):
                token = _token(base)
                with httpx.Client(base_url=base, timeout=60) as client:
                    for n in range(count):
                        item = f"10000{n:07d}"
                        body = client.get(PATH, params={"itemId": item, "token": token}).json()
                        received = time.time()
                        assert body["code"] == 0, body
                        finished = cluster.psql(
                            "SELECT extract(epoch from finished_at) FROM tasks "
                            f"WHERE item_id = '{item}'",
                            database,
                        ).strip()
                        latencies.append((received - float(finished)) * 1000)
    finally:
        cluster.drop_database(database)
        shutil.rmtree(home, ignore_errors=True)
    return latencies


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wakeups", type=int, default=40)
    parser.add_argument("--loader", choices=["auto", "wrk", "httpx"], default="auto")
    args = parser.parse_args()
    loader = args.loader
    if loader == "auto":
        loader = "wrk" if shutil.which("wrk") else "httpx"
    print(
        f"load: {loader}, concurrency {CONCURRENCY}, {args.rounds} x {args.seconds:g} s per "
        f"deployment; cores: {os.cpu_count()}"
    )
    cluster = start_cluster()
    redis = start_redis()
    try:
        embedded, one, two = bench_throughput(cluster, redis, args.seconds, args.rounds, loader)
        wakeups = bench_wakeups(cluster, redis, args.wakeups)
    finally:
        redis.close()
        cluster.stop()
    print()
    print("| deployment | requests/s | vs embedded | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in (
        ("embedded (SQLite, 1 process)", embedded),
        ("PostgreSQL + Redis, 1 API process", one),
        ("PostgreSQL + Redis, 2 API processes", two),
    ):
        ratio = r.rps / embedded.rps if embedded.rps else 0.0
        print(
            f"| {name} | {r.rps:,.0f} | {ratio:.2f}x | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {r.errors} |"
        )
    print()
    print(
        f"cross-process wake-up (task completed in a worker process -> caller answered by an "
        f"API process), {len(wakeups)} calls: p50 {_pct(wakeups, 0.5):.1f} ms, "
        f"p95 {_pct(wakeups, 0.95):.1f} ms, max {max(wakeups):.1f} ms (aim p95 <= 50 ms)"
    )
    ratio = two.rps / embedded.rps if embedded.rps else 0.0
    print(f"2 API processes / embedded: {ratio:.2f}x (aim >= 1.2x)")


if __name__ == "__main__":
    main()
