"""Scale-out: CPU per cached charged call by role, embedded vs PostgreSQL + Redis.

Two deployments run at the same time on this machine, started by this script:

* **embedded**  — ``jditem serve --db <sqlite file> --workers 4`` (one process);
* **scale-out** — ``jditem serve --processes 2 --workers 0 --db postgresql://…
  --redis unix://…`` plus one ``jditem worker --workers 4``, on a throwaway
  PostgreSQL and Redis (``jditem.server.devservices``, as ``jditem dev services``
  starts them: unix sockets, fsync off).

Each is loaded in turn (alternating rounds, the other one idle) with ``wrk``
(keep-alive connections, ``-c 32`` by default) on ``GET /api/jd/get-item-detail/v2``
for one cached item with a valid token that has a rate limit: every answer is a
charged code 0. Around every round the CPU seconds (user + system, ``/proc``) of each
process of the deployment are read, and the calls it charged in the round are counted
in its database, so the figures are **CPU milliseconds per charged call** for each
role: the API process(es) (each, and summed), the supervisor, the worker, PostgreSQL
(postmaster and all its backends, exited ones included) and Redis. The round with
the median total is reported. CPU per call does not depend on what else runs on the
machine; requests/s does (the cores are shared with wrk and anything else).

Also measured:

* the **connection split** across the API processes: keep-alive connections each holds
  (read from ``/proc`` mid-round) and CPU each spent; ``connection_share_max_over_min``
  is the worst round's ratio of the most to the fewest connections held by an API
  process (a process holding none counts as one), ``cpu_share_max_over_min`` the same
  for CPU seconds (on a saturated machine CPU evens out even when connections do not:
  a process with 3 connections still keeps a core busy);
* **statements and round trips per call** (``--count-seconds``, 0 = skip), in a window
  of their own after the timed rounds: PostgreSQL with ``log_statement = all``
  switched on for that window only, Redis ``INFO commandstats``, and the embedded
  profile's SQLite statements counted by a separate traced server
  (``benchmarks/_sqlite_trace.py``);
* optional ``--profile DIR``: one more round of each with py-spy sampling the API
  processes, summarised by layer (raw collapsed stacks kept in DIR);
* the cross-process wake-up (``--wakeups N``): ``--processes 2 --workers 0`` and one
  ``jditem worker``, N first calls for new items one at a time; for each, the time
  from the task's ``finished_at`` (set by the worker) to the caller receiving its
  answer.

After every round the money rule is checked in each database: Σ ledger charges =
balance change = Σ token spend, every charge has its charged code-0 call record, no
other codes, and at least as many charges as answers wrk counted.

Ends with one JSON line (``cpu_ms_per_call_embedded``, ``cpu_ms_per_call_scale_out``,
``connection_share_max_over_min``, …).

``--baseline-src DIR`` adds a third deployment, the scale-out one run from another
checkout's ``src/`` (by ``PYTHONPATH``; its own database on the same PostgreSQL, Redis
database 1), loaded in the same alternating rounds: before/after side by side.

Run: ``.venv/bin/python benchmarks/scale_out.py [--seconds 8] [--rounds 5]``;
``--quick`` (under 5 minutes): 4-second rounds, 3 rounds, 10 wake-ups.
Needs ``wrk`` (``apt-get install wrk``), PostgreSQL server binaries and redis-server.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import httpx
import redis

from jditem.server import devservices

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _deployments import (  # noqa: E402
    JDITEM,
    Deployment,
    Round,
    commandstats,
    embedded,
    make_token,
    median_round,
    running,
    scale_out,
    timed_round,
    wait_health,
)
from _procstat import (  # noqa: E402
    Profile,
    load_average,
    print_profile,
    start_py_spy,
    summarise,
)
from _sqlite_trace import normalise  # noqa: E402
from server_hot_path import PATH, free_port, server_env  # noqa: E402

# --------------------------------------------------------- statements per call

_LOG_LINE = re.compile(r"LOG:\s+(?:statement|execute [^:]*):\s*(.*)$")


def count_postgres(
    deployment: Deployment,
    services: devservices.DevServices,
    client: redis.Redis,
    seconds: float,
    connections: int,
) -> tuple[int, Counter[str], Counter[str]]:
    """(calls, statements by kind, Redis commands by name) over one round with
    ``log_statement = all`` switched on for it."""
    cluster = services.postgres
    log = cluster.root / "server.log"
    cluster.psql("ALTER SYSTEM SET log_statement = 'all'")
    cluster.psql("SELECT pg_reload_conf()")
    time.sleep(1.0)
    money_before = deployment.money()
    commands_before = commandstats(client)
    offset = log.stat().st_size
    try:
        deployment.load(seconds, connections)
    finally:
        size = log.stat().st_size
        cluster.psql("ALTER SYSTEM RESET log_statement")
        cluster.psql("SELECT pg_reload_conf()")
    commands = commandstats(client) - commands_before
    calls = (deployment.money() - money_before).charges
    statements: Counter[str] = Counter()
    with log.open("rb") as handle:
        handle.seek(offset)
        text = handle.read(size - offset).decode(errors="replace")
    for line in text.splitlines():
        match = _LOG_LINE.search(line)
        if match is None or "ALTER SYSTEM" in match.group(1) or "pg_reload_conf" in match.group(1):
            continue
        if match.group(1).startswith("SELECT (SELECT COUNT(*) FROM ledger"):
            continue  # this script's own money query
        statements[normalise(match.group(1))] += 1
    return calls, statements, commands


def count_sqlite(seconds: float, connections: int) -> tuple[int, Counter[str]]:
    """(calls, statements by kind) of a traced embedded server over one round."""
    trace = Path(tempfile.mkdtemp(prefix="jditem-bench-trace-")) / "counts.json"
    try:
        with embedded(trace=trace) as traced:
            traced.load(2, connections)  # warm-up
            time.sleep(0.5)
            before = Counter(json.loads(trace.read_text()))
            money_before = traced.money()
            traced.load(seconds, connections)
            time.sleep(0.5)  # the tracer writes its counts four times a second
            after = Counter(json.loads(trace.read_text()))
            calls = (traced.money() - money_before).charges
            print(traced.check().replace("embedded", "embedded (traced, statement counts)", 1))
        return calls, after - before
    finally:
        shutil.rmtree(trace.parent, ignore_errors=True)


def print_counts(title: str, calls: int, counts: Counter[str]) -> None:
    total = sum(counts.values())
    print(f"\n{title}: {calls:,} charged calls, {total / max(calls, 1):.2f} per call")
    print("\n| statement / command | per call | count |\n|---|---:|---:|")
    for key, count in counts.most_common():
        print(f"| `{key}` | {count / max(calls, 1):.3f} | {count:,} |")


# -------------------------------------------------------------------- profiling


def profile_round(deployment: Deployment, seconds: float, connections: int, out: Path) -> Profile:
    """One more round with py-spy on every API process; their samples summed."""
    spies = []
    for pid in deployment.api_pids():
        path = out / f"{deployment.name.split()[0]}-{pid}.txt"
        spies.append((path, start_py_spy(pid, seconds, path)))
    time.sleep(0.5)  # py-spy attaches
    deployment.load(seconds, connections)
    merged = Profile(0, Counter(), Counter())
    for path, spy in spies:
        spy.wait(60)
        if path.exists():
            part = summarise(path)
            merged.samples += part.samples
            merged.leaves.update(part.leaves)
            merged.layers.update(part.layers)
    merged.samples = max(merged.samples, 1)
    return merged


# ------------------------------------------------------------------- wake-ups


def bench_wakeups(services: devservices.DevServices, count: int) -> list[float]:
    """Milliseconds from task completion (worker process) to the caller's answer."""
    cluster = services.postgres
    home = Path(tempfile.mkdtemp(prefix="jditem-bench-wake-"))
    database = cluster.create_database("wake")
    services.redis.flush()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    url = cluster.sync_url(database)
    env = server_env(home, JDITEM_SANDBOX_LATENCY_MS="[100, 150]")
    serve = [JDITEM, "serve", "--processes", "2", "--workers", "0", "--db", url]
    serve += ["--redis", services.redis_url, "--port", str(port)]
    worker = [JDITEM, "worker", "--db", url, "--redis", services.redis_url, "--workers", "4"]
    latencies: list[float] = []
    try:
        with (
            running(serve, env, home / "serve.log"),
            running(worker, env, home / "worker.log"),
        ):
            wait_health(base)
            token = make_token(base)
            with httpx.Client(base_url=base, timeout=60) as http:
                for n in range(count):
                    item = f"10000{n:07d}"
                    body = http.get(PATH, params={"itemId": item, "token": token}).json()
                    received = time.time()
                    assert body["code"] == 0, body
                    sql = (
                        f"SELECT extract(epoch from finished_at) FROM tasks WHERE item_id='{item}'"
                    )
                    finished = cluster.psql(sql, database).strip()
                    latencies.append((received - float(finished)) * 1000)
    finally:
        cluster.drop_database(database)
        shutil.rmtree(home, ignore_errors=True)
    return latencies


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


# ----------------------------------------------------------------------- report

ROLES = ("API", "supervisor", "worker", "PostgreSQL", "Redis", "total")


def print_cpu_table(emb: Round, so: Round, baseline: Round | None = None) -> None:
    print("\nCPU ms per charged call (median round by total; robust to the machine's load):\n")
    print("| profile | " + " | ".join(ROLES) + " | × embedded |")
    print("|---|" + "---:|" * (len(ROLES) + 1))
    base = emb.ms_per_call("total")
    rows = [("embedded (SQLite, 1 process)", emb), ("scale-out", so)]
    if baseline is not None:
        rows.append(("scale-out, baseline", baseline))
    for name, r in rows:
        cells = []
        for role in ROLES:
            present = role in ("API", "total") or role in r.cpu
            cells.append(f"{r.ms_per_call(role):.3f}" if present else "–")
        ratio = r.ms_per_call("total") / base if base else 0.0
        print(f"| {name} | " + " | ".join(cells) + f" | {ratio:.2f}× |")
    each = ", ".join(f"{v * 1000 / so.calls:.3f}" for v in so.api_cpu())
    print(f"\nscale-out API processes each (ms per call of the deployment): {each}")
    if baseline is not None:
        after, before = so.ms_per_call("total"), baseline.ms_per_call("total")
        print(
            f"scale-out / its baseline, CPU per call: total {after / before:.2f}×, "
            f"API {so.ms_per_call('API') / baseline.ms_per_call('API'):.2f}×, PostgreSQL "
            f"{so.ms_per_call('PostgreSQL') / baseline.ms_per_call('PostgreSQL'):.2f}×"
        )


def _baseline_summary(rounds: list[Round], median: Round, so_ms: float) -> dict[str, float]:
    base_ms = median.ms_per_call("total")
    return {
        "cpu_ms_per_call_scale_out_baseline": round(base_ms, 4),
        "scale_out_over_baseline": round(so_ms / base_ms, 3) if base_ms else 0.0,
        "baseline_api_ms_per_call": round(median.ms_per_call("API"), 4),
        "baseline_postgres_ms_per_call": round(median.ms_per_call("PostgreSQL"), 4),
        "connection_share_max_over_min_baseline": round(
            max(r.connection_ratio() for r in rounds), 2
        ),
    }


def print_split(rounds: list[Round], title: str = "") -> None:
    print(f"\nconnection split across the API processes{title}, per round:\n")
    print(
        "| round | keep-alive connections each | CPU s each | max/min connections | max/min CPU |"
    )
    print("|---:|---|---|---:|---:|")
    for n, r in enumerate(rounds, 1):
        conns = " / ".join(str(c) for _, c in sorted(r.connections.items()))
        cpu = " / ".join(f"{v:.2f}" for v in r.api_cpu())
        print(f"| {n} | {conns} | {cpu} | {r.connection_ratio():.2f} | {r.cpu_ratio():.2f} |")


def print_projection(emb: Round, so: Round, rps_emb: float, rps_so: float) -> None:
    total = so.ms_per_call("total")
    api = so.ms_per_call("API")
    redis_ms = so.ms_per_call("Redis")
    emb_ms = emb.ms_per_call("total")
    print("\nprojected calls/s from CPU per call (assumptions below):\n")
    print("| cores | embedded (one process) | scale-out | API processes for it |")
    print("|---:|---:|---:|---:|")
    for cores in (2, 4, 8, 16):
        embedded_rate = 1000 / emb_ms if emb_ms else 0.0
        scaled = cores * 1000 / total if total else 0.0
        processes = max(1, round(cores * api / total)) if total else 0
        print(f"| {cores} | {embedded_rate:,.0f} | {scaled:,.0f} | {processes} |")
    print(
        f"\nmeasured on this machine ({os.cpu_count()} cores shared with wrk and other "
        f"jobs): embedded {rps_emb:,.0f} calls/s, scale-out {rps_so:,.0f} calls/s "
        "(median rounds; these depend on the machine's load, the CPU figures do not)."
    )
    cap = f"{1000 / redis_ms:,.0f}" if redis_ms > 0 else "–"
    print(
        "Assumptions: every core runs only this deployment's processes (the load generator "
        "elsewhere); CPU per call stays what it was at this concurrency (larger group "
        "commits at higher load would lower PostgreSQL's share); PostgreSQL backends and "
        "API processes scale linearly with cores; the embedded server is one process and "
        f"its event loop holds the GIL, so it stays near one core's worth ({emb_ms:.3f} ms "
        "per call) however many cores there are; Redis is single-threaded (ceiling "
        f"{cap} calls/s at its CPU per call); one token, so all charges lock the same "
        "token and account rows, which serialises the group commits of all processes "
        "(not modelled: with many tokens it does not bind)."
    )


#: Defaults of a full and of a ``--quick`` run (options given explicitly win).
FULL = {"seconds": 8.0, "rounds": 5, "wakeups": 40, "count_seconds": 4.0}
QUICK = {"seconds": 4.0, "rounds": 3, "wakeups": 10, "count_seconds": 3.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, help="length of a timed round (8; quick 4)")
    parser.add_argument("--rounds", type=int, help="timed rounds per deployment (5; quick 3)")
    parser.add_argument("--connections", type=int, default=32, help="wrk keep-alive connections")
    parser.add_argument("--processes", type=int, default=2, help="API processes (scale-out)")
    parser.add_argument("--wakeups", type=int, help="wake-up samples (40; quick 10; 0 = skip)")
    parser.add_argument(
        "--count-seconds", type=float, help="statement-count round (4; quick 3; 0 = skip)"
    )
    parser.add_argument("--profile", type=Path, help="py-spy round into this directory")
    parser.add_argument("--quick", action="store_true", help="short run (under 5 minutes)")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="another checkout's src/: adds its scale-out deployment to the same rounds",
    )
    args = parser.parse_args()
    if args.baseline_src is not None and not (args.baseline_src / "jditem" / "cli").is_dir():
        parser.error(f"--baseline-src {args.baseline_src}: no jditem/cli in it (give a src/)")
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: install it with `apt-get install wrk`")
    print(
        f"wrk -t1 -c{args.connections}, {args.rounds} x {args.seconds:g} s per deployment "
        f"(alternating); {load_average()} at start"
    )
    started = time.monotonic()
    services = devservices.start()
    checks: dict[str, str] = {}  # the last money check of each deployment (whole run)
    try:
        client = redis.Redis(unix_socket_path=str(services.redis.socket))
        with ExitStack() as stack:
            emb = stack.enter_context(embedded())
            so = stack.enter_context(scale_out(services, args.processes))
            loaded = [emb, so]
            if args.baseline_src is not None:
                loaded.append(
                    stack.enter_context(scale_out(services, args.processes, args.baseline_src))
                )
            for deployment in loaded:
                deployment.load(2, args.connections)  # warm-up
            rounds: dict[str, list[Round]] = {d.name: [] for d in loaded}
            for _ in range(args.rounds):
                for deployment in loaded:
                    redis_client = client if deployment.scale_out else None
                    rounds[deployment.name].append(
                        timed_round(deployment, args.seconds, args.connections, redis_client)
                    )
                    checks[deployment.name] = deployment.check()
            pg_counts = None
            if args.count_seconds > 0:
                pg_counts = count_postgres(
                    so, services, client, args.count_seconds, args.connections
                )
                checks[so.name] = so.check()
            profiles = []
            if args.profile is not None:
                args.profile.mkdir(parents=True, exist_ok=True)
                for deployment in (emb, so):
                    profile = profile_round(
                        deployment, args.seconds, args.connections, args.profile
                    )
                    profiles.append((deployment.name, profile))
                    checks[deployment.name] = deployment.check()
            rps_emb = statistics.median(r.result.rps for r in rounds[emb.name])
            rps_so = statistics.median(r.result.rps for r in rounds[so.name])
            base = loaded[2] if len(loaded) > 2 else None
            rps_base = statistics.median(r.result.rps for r in rounds[base.name]) if base else 0.0
        sqlite_counts = count_sqlite(args.count_seconds, args.connections) if pg_counts else None
        wakeups = bench_wakeups(services, args.wakeups) if args.wakeups else []
    finally:
        services.stop()

    emb_round, so_round = median_round(rounds[emb.name]), median_round(rounds[so.name])
    base_round = median_round(rounds[base.name]) if base is not None else None
    print(f"\nfinished in {time.monotonic() - started:.0f} s; {load_average()} at the end")
    print("\n| profile | requests/s (median) | p50 ms | p99 ms | calls in median round |")
    print("|---|---:|---:|---:|---:|")
    table = [(emb.name, emb_round, rps_emb), (so.name, so_round, rps_so)]
    if base is not None and base_round is not None:
        table.append((base.name, base_round, rps_base))
    for name, r, rps in table:
        print(
            f"| {name} | {rps:,.0f} | {r.result.p50_ms:.2f} | {r.result.p99_ms:.2f} | {r.calls:,} |"
        )
    print_cpu_table(emb_round, so_round, base_round)
    print_split(rounds[so.name])
    if base is not None:
        print_split(rounds[base.name], " (baseline)")
    print_projection(emb_round, so_round, rps_emb, rps_so)
    if pg_counts is not None and sqlite_counts is not None:
        calls, statements, commands = pg_counts
        print_counts("scale-out: PostgreSQL statements (log_statement = all)", calls, statements)
        print_counts("scale-out: Redis commands (INFO commandstats)", calls, commands)
        print_counts("embedded: SQLite statements (traced server)", *sqlite_counts)
    for name, profile in profiles:
        print_profile(f"{name}, API processes", profile)
    if wakeups:
        print(
            f"\ncross-process wake-up (task completed in a worker process -> caller answered "
            f"by an API process), {len(wakeups)} calls: p50 {_pct(wakeups, 0.5):.1f} ms, "
            f"p95 {_pct(wakeups, 0.95):.1f} ms, max {max(wakeups):.1f} ms"
        )
    print()
    for line in checks.values():
        print(line)
    share = max(r.connection_ratio() for r in rounds[so.name])
    cpu_share = max(r.cpu_ratio() for r in rounds[so.name])
    emb_ms, so_ms = emb_round.ms_per_call("total"), so_round.ms_per_call("total")
    summary = {
        "cpu_ms_per_call_embedded": round(emb_ms, 4),
        "cpu_ms_per_call_scale_out": round(so_ms, 4),
        "connection_share_max_over_min": round(share, 2),
        "cpu_share_max_over_min": round(cpu_share, 2),
        "scale_out_over_embedded": round(so_ms / emb_ms, 3) if emb_ms else None,
        "scale_out_api_ms_per_call": round(so_round.ms_per_call("API"), 4),
        "scale_out_postgres_ms_per_call": round(so_round.ms_per_call("PostgreSQL"), 4),
        "scale_out_redis_ms_per_call": round(so_round.ms_per_call("Redis"), 4),
        "scale_out_worker_ms_per_call": round(so_round.ms_per_call("worker"), 4),
        "rps_embedded": round(rps_emb),
        "rps_scale_out": round(rps_so),
        "wakeup_p95_ms": round(_pct(wakeups, 0.95), 1) if wakeups else None,
        **(_baseline_summary(rounds[base.name], base_round, so_ms) if base and base_round else {}),
        "rounds": args.rounds,
        "seconds": args.seconds,
        "connections": args.connections,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
