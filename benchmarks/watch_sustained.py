"""Monitoring: a 10,000-item watch list at a 1 h interval, sustained (issue 19).

Three ``jditem serve`` processes on 127.0.0.1 (embedded profile: SQLite, the sandbox
collector at its default latency, 200-800 ms), identical but for
``JDITEM_WATCH_SCHEDULER``, each holding the same list: 10,000 synthetic ids,
``intervalSeconds`` 3600, a budget that never binds, under an unlimited token. Nothing
is scaled: the interval is the real hour and the clock the real one. A new item's first
check is at its own place in the interval (``monitor/slots.py``: a hash of list and
item, uniform in ``[0, 3600)`` seconds), so from the moment the items are added the list
is in its steady state — 10,000 / 3,600 = 2.78 checks/s — and a window of a minute or
more measures that rate as an hour would, only with more noise (how many places fall
in a short window varies: hence ``checks_due_in_window``).

After a warm-up the three are measured over the same window, side by side:

* ``checks_per_s_10k_1h``: checks made in the window (the list's ``checksToday``) ÷ the
  window's wall seconds, next to ``checks_due_in_window``: how many items had their
  place in the window (computed from the same hash); ``due_backlog_end``: items due but
  not yet checked at the end (the scheduler keeping up leaves a handful: those due
  within the last tick and the checks under way);
* ``scheduler_cpu_share``: the scheduler's own CPU ÷ wall seconds. CPU comes from
  ``/proc`` (user + system, every thread), over the same window, of three servers
  started alike: *scheduling* (the scheduler on), *idle* (off; its ticks of everything
  else — history flush, lease renewals, the reaper — are in every server alike) and
  *calling* (off, answering the same items as ordinary v2 calls from this script, paced
  at the list's rate, new items each time like the checks). Then
  ``checks_cpu = (calling − idle) ÷ calls × checks`` is what the checks themselves cost
  (admission, an uncached sandbox collection, the charge, the history write) and the
  scheduler's own is ``scheduling − idle − checks_cpu``: the pick, the grouping, the
  per-check bookkeeping, the lease. The HTTP parsing the calls pay and the checks do
  not (≈ 0.3-0.5 ms a call, the hot-path table) is counted as check cost, so the
  scheduler's share is underestimated by at most ≈ 0.15 % of a core at 2.8 checks/s;
  ``scheduler_and_checks_cpu_share`` (scheduling − idle) is the plain upper bound.
  ``check_cpu_ms``: CPU per check (from the calling server).

Run: ``.venv/bin/python benchmarks/watch_sustained.py [--seconds 120]`` (imported by
``monitoring_core.py``, which puts its keys in its JSON line). The last line is one JSON
object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import server_hot_path as hot  # noqa: E402
from _procstat import load_average, tree_cpu  # noqa: E402

ITEMS = 10_000
INTERVAL = 3600
LIST = "sustained"
SETTINGS = {"scheduling": "true", "idle": "false", "calling": "false"}


def ids(count: int) -> list[str]:
    return [str(100_500_000_000 + i) for i in range(count)]


def create_list(server: hot.Server, count: int) -> None:
    """The list, its items in chunks of 1,000, through the API under the server's token."""
    base = f"http://127.0.0.1:{server.port}/api/watch/lists"
    body = {"name": LIST, "intervalSeconds": INTERVAL, "dailyBudget": "100000"}
    answer = httpx.post(base, json=body, headers=server.headers, timeout=60).json()
    if answer["code"] != 0:
        raise SystemExit(f"creating the list: {answer}")
    every = ids(count)
    for start in range(0, count, 1000):
        chunk = {"items": every[start : start + 1000]}
        answer = httpx.post(f"{base}/{LIST}/items", json=chunk, headers=server.headers, timeout=60)
        if answer.json()["code"] != 0:
            raise SystemExit(f"adding items: {answer.json()}")


def due_between(list_id: int, count: int, start: float, end: float) -> int:
    """How many of the list's items have a check due in ``[start, end)`` (epoch seconds):
    their grid places (``monitor/slots.py``) within the interval."""
    from jditem.server.monitor.slots import offset_seconds

    lo, hi = start % INTERVAL, end % INTERVAL  # the window is shorter than the interval
    places = (offset_seconds(list_id, item, INTERVAL) for item in ids(count))
    if lo <= hi:
        return sum(lo <= p < hi for p in places)
    return sum(p >= lo or p < hi for p in places)


def status(server: hot.Server) -> dict[str, Any]:
    url = f"http://127.0.0.1:{server.port}/api/watch/lists/{LIST}"
    answer = httpx.get(url, headers=server.headers, timeout=60).json()
    return {"id": int(answer["data"]["id"]), **answer["data"]["status"]}


async def call_paced(server: hot.Server, items: list[str], rate: float, seconds: float) -> int:
    """Call each item once (in order) as ordinary v2 calls at ``rate`` per second for
    ``seconds``; returns how many answered code 0."""
    url = f"http://127.0.0.1:{server.port}{hot.PATH}"
    done = 0

    async def one(client: httpx.AsyncClient, item: str) -> None:
        nonlocal done
        answer = await client.get(url, params={"itemId": item}, headers=server.headers)
        done += answer.json()["code"] == 0

    async with httpx.AsyncClient(timeout=120) as client, asyncio.TaskGroup() as group:
        start = time.monotonic()
        for n, item in enumerate(items[: int(rate * seconds)]):
            await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
            group.create_task(one(client, item))
    return done


def measure(seconds: float, warmup: float = 10.0, count: int = ITEMS) -> dict[str, Any]:
    """Run the three servers side by side; print a table; return the JSON fields."""
    rate = count / INTERVAL
    with ExitStack() as stack:
        servers = {
            name: stack.enter_context(hot.started("jditem-serve", JDITEM_WATCH_SCHEDULER=value))
            for name, value in SETTINGS.items()
        }
        for server in servers.values():
            server.prepare()
            create_list(server, count)
        time.sleep(warmup)  # the first checks' imports and caches, on every server alike
        cpu0 = {name: tree_cpu(s.proc.pid) for name, s in servers.items()}
        checks0 = status(servers["scheduling"])["checksToday"]
        wall0, epoch0 = time.monotonic(), time.time()
        calls = asyncio.run(call_paced(servers["calling"], ids(count), rate, seconds))
        wall, epoch1 = time.monotonic() - wall0, time.time()
        cpu = {name: tree_cpu(s.proc.pid) - cpu0[name] for name, s in servers.items()}
        end = status(servers["scheduling"])
    checks = end["checksToday"] - checks0
    due = due_between(end["id"], count, epoch0, epoch1)
    checks_rate = checks / wall
    per_check = (cpu["calling"] - cpu["idle"]) / max(calls, 1)
    both = cpu["scheduling"] - cpu["idle"]
    own = both - per_check * checks
    print(f"\n10,000-item list, 1 h interval: {wall:.0f} s window; {load_average()}")
    print("| server | checks or calls | per s | CPU s | CPU share of one core |")
    print("|---|---:|---:|---:|---:|")
    for name, done in (("scheduling", checks), ("idle", 0), ("calling", calls)):
        print(f"| {name} | {done} | {done / wall:.2f} | {cpu[name]:.2f} | {cpu[name] / wall:.1%} |")
    print(
        f"\naim {rate:.2f} checks/s: measured {checks_rate:.2f} ({checks} checks for {due} "
        f"due in the window); due and not yet checked at the end: {end['itemsDue']}; "
        f"a check costs {per_check * 1000:.2f} CPU ms; "
        f"scheduler + its checks {both / wall:.2%} of one core, the scheduler's own "
        f"{own / wall:.2%}"
    )
    return {
        "checks_per_s_10k_1h": round(checks_rate, 3),
        "checks_aim_per_s": round(rate, 3),
        "checks_due_in_window": due,
        "checks_made_in_window": checks,
        "scheduler_cpu_share": round(own / wall, 4),
        "scheduler_and_checks_cpu_share": round(both / wall, 4),
        "check_cpu_ms": round(per_check * 1000, 2),
        "due_backlog_end": end["itemsDue"],
        "sustained_window_s": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="measured window (120)")
    args = parser.parse_args()
    print(json.dumps(measure(args.seconds)))


if __name__ == "__main__":
    main()
