"""Monitoring core (issue 19): cached charged calls with history writing on vs off.

Two jditem servers on 127.0.0.1, each one process on the embedded profile (SQLite file,
uvicorn + httptools, no access log), identical but for the setting ``history``
(``JDITEM_HISTORY=true`` / ``false``), started at once and loaded in pairs of rounds
back to back (the other idle; the order swapped every pair) by ``wrk -t1 -c32``
(keep-alive; an httpx async client when wrk is missing). The table shows each server's
median round; the ratios are the medians of the pairs' ratios, so that load from other
processes, which changes over seconds, hits both sides of a pair alike. Every call is a
full code-0 call of one cached item: token lookup, admission, the cached result, the
charge committed before the answer in a group commit with its call record — and, with
history on, an observation of the item for the account: the state never changes, so
each is a confirmation, coalesced in memory and written by the history writer's flush
once a second (the tracked state comes from the per-result memo).

``history_on_off_ratio`` = requests/s with history on ÷ off (aim ≥ 0.9);
``history_cpu_ratio`` = CPU µs per request off ÷ on (the same, measured by the servers'
CPU time, which does not depend on the machine's load). After the run: the money rule
holds in both databases (Σ ledger = balance change = Σ token spend, a charged call
record per charge), the history-on database holds exactly one point for the item whose
``last_confirmed_at`` moved, the history-off one none.

Then the scheduler's pick of 500 due items among 100,000 watched on SQLite and 1,000,000
on PostgreSQL (``--quick``: 200,000) — :mod:`watch_tick`, which prints the plans and the
same pick at 10,000 watched for reference — as ``tick_ms_sqlite_100k`` and
``tick_ms_postgres_1m`` (``--no-tick`` skips it).

Last, a 10,000-item list at a 1 h interval sustained on the embedded profile —
:mod:`watch_sustained` (three servers side by side: scheduler on, off, and off answering
the same items as ordinary calls) — as ``checks_per_s_10k_1h`` (aim 2.78) and
``scheduler_cpu_share`` (the scheduler's own CPU as a share of one core, the checks'
cost taken out; aim < 0.05) over a 180 s window (``--quick``: 60 s; ``--no-sustained``
skips it).

Run: ``.venv/bin/python benchmarks/monitoring_core.py [--seconds 5] [--rounds 12]``;
``--quick`` (a few minutes on 2 cores): 2-second rounds, 8 pairs. The last line
of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import server_hot_path as hot  # noqa: E402
from _procstat import load_average  # noqa: E402

KIND = "jditem-httptools"  # the in-process server kind of server_hot_path
SETTINGS = {"on": "true", "off": "false"}


def history_points(server: hot.Server) -> list[tuple[int, str, str]]:
    """(seq, valid_from, last_confirmed_at) of every stored point."""
    with sqlite3.connect(server.home / "server.db") as db:
        rows = db.execute(
            "SELECT seq, valid_from, last_confirmed_at FROM item_history ORDER BY id"
        ).fetchall()
    return [(int(seq), str(since), str(seen)) for seq, since, seen in rows]


def measure_history(
    seconds: float, rounds: int, connections: int, loader: str
) -> dict[str, object]:
    """Run the on/off comparison; print its table; return its JSON fields."""
    with ExitStack() as stack:
        servers = {
            name: stack.enter_context(hot.started(KIND, JDITEM_HISTORY=value))
            for name, value in SETTINGS.items()
        }
        for server in servers.values():
            server.prepare()
            server.round(2, connections, loader)  # warm-up
            server.cpu_us.clear()
        ratios: list[float] = []
        cpu_ratios: list[float] = []
        for n in range(rounds):  # pairs of rounds back to back, the order swapped each time
            pair = [servers["on"], servers["off"]][:: 1 if n % 2 == 0 else -1]
            for server in pair:
                server.results.append(server.round(seconds, connections, loader))
            on_round, off_round = servers["on"], servers["off"]
            ratios.append(on_round.results[-1].rps / off_round.results[-1].rps)
            cpu_ratios.append(off_round.cpu_us[-1] / on_round.cpu_us[-1])
        checks = [server.check() for server in servers.values()]
        points = {name: history_points(server) for name, server in servers.items()}
    on, off = servers["on"], servers["off"]
    on_r, off_r = hot.median_result(on.results), hot.median_result(off.results)
    on_cpu, off_cpu = hot._median(on.cpu_us), hot._median(off.cpu_us)
    print("\n| history | requests/s | p50 ms | p99 ms | CPU µs/request |")
    print("|---|---:|---:|---:|---:|")
    for name, server in servers.items():
        r = hot.median_result(server.results)
        print(
            f"| {name} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {hot._median(server.cpu_us):,.0f} |"
        )
    ratio, cpu_ratio = statistics.median(ratios), statistics.median(cpu_ratios)
    print(
        f"\nhistory on / off (median of {len(ratios)} back-to-back pairs): {ratio:.0%} of the "
        f"throughput (pairs: {', '.join(f'{r:.2f}' for r in sorted(ratios))}), "
        f"{cpu_ratio:.0%} by CPU per request"
    )
    for line in checks:
        print(line)
    [(seq, since, seen)] = points["on"] or [(0, "", "")]
    if len(points["on"]) != 1 or seq != 1 or seen <= since or points["off"]:
        raise SystemExit(f"unexpected history rows: {points}")
    print(f"history on: one point for the item, confirmed from {since} to {seen}; off: none")
    return {
        "history_on_off_ratio": round(ratio, 3),
        "history_cpu_ratio": round(cpu_ratio, 3),
        "history_rps": {"on": round(on_r.rps), "off": round(off_r.rps)},
        "history_cpu_us_per_request": {"on": round(on_cpu), "off": round(off_cpu)},
        "history_p99_ms": {"on": on_r.p99_ms, "off": off_r.p99_ms},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, help="length of a round (5; quick 2)")
    parser.add_argument("--rounds", type=int, help="rounds per server (12; quick 8)")
    parser.add_argument("--connections", type=int, default=hot.CONCURRENCY)
    parser.add_argument("--loader", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument("--quick", action="store_true", help="short run (under 5 minutes)")
    parser.add_argument("--no-tick", action="store_true", help="skip the due-item pick")
    parser.add_argument(
        "--no-sustained", action="store_true", help="skip the 10,000-item list sustained"
    )
    args = parser.parse_args()
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    rounds = args.rounds or (8 if args.quick else 12)
    loader = args.loader
    if loader == "auto":
        loader = "wrk" if shutil.which("wrk") else "httpx"
    print(
        f"load: {loader} -c{args.connections}, {rounds} x {seconds:g} s per server "
        f"(alternating); {load_average()} at start"
    )
    results = measure_history(seconds, rounds, args.connections, loader)
    if not args.no_tick:  # the scheduler's pick of due items (benchmarks/watch_tick.py)
        import watch_tick

        print()
        pg_items = 200_000 if args.quick else 1_000_000
        lite = asyncio.run(watch_tick.run_sqlite(100_000, 5 if args.quick else 15))
        watch_tick.report("sqlite", 100_000, lite)
        pg = asyncio.run(watch_tick.run_postgres(pg_items, 5 if args.quick else 15))
        watch_tick.report("postgresql", pg_items, pg)
        results["tick_ms_sqlite_100k"] = round(lite["pick_ms"], 2)
        results["tick_ms_postgres_1m"] = round(pg["pick_ms"], 2)
        results["postgres_items"] = pg_items
    if not args.no_sustained:  # a 10,000-item list at 1 h (benchmarks/watch_sustained.py)
        import watch_sustained

        results.update(watch_sustained.measure(60.0 if args.quick else 180.0))
    print(f"\n{load_average()} at the end")
    print(json.dumps({**results, "load_average_end": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    main()
