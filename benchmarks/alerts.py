"""Change alerts (issue 20, SPEC §6.3): webhook latency, bursts, a flaky receiver, kill -9.

Real deployments as subprocesses (``jditem serve`` on SQLite; ``jditem serve --processes
2 --workers 0`` + ``jditem worker`` on PostgreSQL + Redis), the moving sandbox run fast
(``JDITEM_SANDBOX_DRIFT_SPEED``) and no result cache (``JDITEM_RESULT_TTL_SECONDS=0``),
so that every call of an item collects it again and a changed state becomes an event; a
watch list holds the items with every kind notifying and no cooldown; one endpoint per
receiver, on 127.0.0.1 (``JDITEM_WEBHOOK_ALLOW_NETWORKS=127.0.0.0/8``). The benchmark
calls the items round-robin, reads the events from the pull feed
(``/api/watch/changes``: the ones a list's rules notify are the expected deliveries), and
waits (bounded) until the receiver has answered 2xx to each.

* **latency** (``latency_p95_s_embedded``, ``latency_p95_s_scale_out``): from the event's
  ``timestamp`` (= its ``observedAt``, when the collected result was stored; the outbox
  row commits with the event) to the receiver's 2xx, same machine clock; p50/p95/max.
* **bursts** (``burst_p95_s_embedded``, ``burst_p95_s_scale_out``; ``_alerts_burst``): 40
  items in four lists called at once, three endpoints; the same latency over every
  delivery of the bursts' events, on the same deployments right after the steady run.
* **flaky receiver** (``delivered_fraction``): the receiver answers 500 to a random half
  of the attempts and, a third into the calls, closes its listening socket for
  ``--down`` seconds (connections refused; then it listens again on the same port), with
  ``JDITEM_WEBHOOK_RETRY_MULTIPLIER`` shortening the retry schedule; checked: every
  expected event delivered, every attempt's ``webhook-id`` equals the event id of its
  body (so duplicates share it), and the receiver's dedup view (first 2xx per id) in
  event-id order has each item's events in the order they were observed;
  ``refused_attempts`` counts the attempts the dispatcher's log shows without a
  connection (so the outage was met).
* **kill -9** (``lost_after_kill`` = ``lost_after_kill_embedded`` +
  ``lost_after_kill_scale_out``): a receiver that takes 0.3 s per answer; once a
  delivery is in flight with others pending, SIGKILL to the process delivering —
  ``jditem serve`` embedded (its in-process dispatcher), then a restart on the same
  database; ``jditem worker`` in scale-out (the API processes run no dispatcher with
  ``--workers 0``), then a new ``jditem worker`` on the same PostgreSQL and Redis — and
  the expected events that never got a 2xx are counted (a lease outlives the dead
  process by the attempt limit + ``JDITEM_LEASE_SECONDS``, both shortened to 2 s here).

* **one endpoint hanging** (``fanout_p95_s``, ``fanout_p95_ratio_hanging_plain``): two
  embedded servers at once, each with 1,000 endpoints (50 accounts x 20, the most an
  account may have; ``--quick``: 200) on one receiver, the same items; on the second,
  one endpoint never answers within the attempt limit (15 s): test events queued to it
  before each of its rounds keep it hanging throughout the round. Rounds alternate
  (A B B A ...); per round, the p50/p95 of observed -> 2xx over every delivery to the
  answering endpoints.

Run: ``.venv/bin/python benchmarks/alerts.py [--seconds 20]``; ``--quick`` (about 3-4
minutes on 2 busy cores) trims: 8-second rounds instead of 20, 2 bursts per deployment
instead of 5, 200 endpoints instead of 1,000 and one pair of fan-out rounds instead of
two. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _alerts_burst import BURST_ITEMS, measure_burst  # noqa: E402
from _alerts_parts import (  # noqa: E402
    ITEMS,
    Receiver,
    Server,
    embedded,
    scale_out,
    spread,
    stamp,
    wait_delivered,
)
from _procstat import load_average  # noqa: E402

from jditem.server import devservices  # noqa: E402


def measure_latency(server: Server, seconds: float) -> dict[str, Any]:
    receiver = Receiver()
    try:
        server.prepare(receiver.url)
        calls = server.drive(seconds)
        ids = {e["id"] for e in server.expected()}
        missing = wait_delivered(receiver, ids, 120)
        got = receiver.delivered()
        latencies = [got[i].at - stamp(got[i].body["data"]["observedAt"]) for i in ids - missing]
    finally:
        receiver.close()
    if not latencies:
        raise SystemExit(f"{server.base}: no event was delivered ({calls} calls)")
    return {"calls": calls, "events": len(ids), "missing": len(missing), **spread(latencies)}


def measure_fanout(seconds: float, rounds: int, accounts: int = 50) -> list[dict[str, Any]]:
    """Two embedded servers side by side, each with ``accounts`` accounts x 20 endpoints
    (the most an account may have) on one receiver; on the second, one endpoint hangs
    (held beyond the attempt limit). Rounds alternate between them; per round, the p95 of
    observed -> 2xx over the deliveries to the answering endpoints."""
    items = ITEMS[:2]

    def answer(n: int, path: str) -> int:
        if path == "/hang":
            time.sleep(60)  # beyond the attempt limit: the dispatcher gives up, retries
        return 204

    receiver = Receiver(answer)
    homes = [Path(tempfile.mkdtemp(prefix=f"jditem-bench-alerts-fan{n}-")) for n in range(2)]
    table: list[dict[str, Any]] = []
    try:
        with (
            embedded(homes[0]) as (plain, _),
            embedded(homes[1]) as (hanging, _),
        ):
            tokens: dict[str, list[str]] = {"plain": [], "hanging": []}
            for name, server in (("plain", plain), ("hanging", hanging)):
                for k in range(accounts):
                    urls = [f"{receiver.url}/{name}/{k}/{e}" for e in range(20)]
                    if name == "hanging" and k == 0:
                        urls[0] = receiver.url.removesuffix("/hook") + "/hang"
                    server.prepare(*urls, account=f"fan{k}", items=items)
                    tokens[name].append(server.token)
                # the baselines (a first observation is no event)
                server.drive(0.0, pause=0.0, tokens=tokens[name], items=items, passes=1)
            hanging.token = tokens["hanging"][0]
            listed = hanging.api("GET", "/api/webhooks")["endpoints"]
            hang_id = next(e["id"] for e in listed if e["url"].endswith("/hang"))
            for n in range(rounds * 2):
                name = ["plain", "hanging"][(n + n // 2) % 2]  # A B B A A B ...
                server = plain if name == "plain" else hanging
                server.token = tokens[name][0]
                if name == "hanging":  # test events queued: it hangs the whole round
                    for _ in range(max(2, int(seconds / 15) + 2)):
                        server.api("POST", f"/api/webhooks/{hang_id}/test")
                started = len(receiver.hits)
                hung = receiver.arrived["/hang"]
                calls = server.drive(seconds, pause=0.3, tokens=tokens[name], items=items)
                owed = {}  # per account, the new events its list notified
                for k, token in enumerate(tokens[name]):
                    server.token = token
                    before = len(server.expected_by.setdefault(token, []))
                    server.cursor, server.events = server.cursors.get(token), []
                    server.expected_by[token] += server.expected()
                    server.cursors[token] = server.cursor
                    owed[k] = len(server.expected_by[token]) - before
                due = sum(owed.values()) * 20 - (owed[0] if name == "hanging" else 0)
                deadline = time.monotonic() + 180
                while time.monotonic() < deadline:
                    mine = [h for h in receiver.hits[started:] if f"/{name}/" in h.path]
                    if len(mine) >= due:
                        break
                    time.sleep(0.2)
                latencies = sorted(h.at - stamp(h.body["data"]["observedAt"]) for h in mine)
                table.append(
                    {
                        "server": name,
                        "calls": calls,
                        "deliveries": len(latencies),
                        "due": due,
                        "hang_attempts": receiver.arrived["/hang"] - hung,
                        "p50": statistics.median(latencies) if latencies else 0.0,
                        "p95": latencies[max(0, int(len(latencies) * 0.95) - 1)]
                        if latencies
                        else 0.0,
                    }
                )
    finally:
        receiver.close()
        for home in homes:
            shutil.rmtree(home, ignore_errors=True)
    return table


def measure_flaky(seconds: float, down: float) -> dict[str, Any]:
    rng = random.Random(20)
    receiver = Receiver(lambda n, path: 500 if rng.random() < 0.5 else 204)
    outage = threading.Timer(seconds / 3, receiver.go_down, (down,))  # refused connections
    home = Path(tempfile.mkdtemp(prefix="jditem-bench-alerts-flaky-"))
    try:
        with embedded(home, JDITEM_WEBHOOK_RETRY_MULTIPLIER="0.002") as (server, _):
            server.prepare(receiver.url)
            outage.start()
            server.drive(seconds)
            outage.join()
            expected = server.expected()
            ids = {e["id"] for e in expected}
            missing = wait_delivered(receiver, ids, 240)
            endpoint = server.api("GET", "/api/webhooks")["endpoints"][0]
            log = server.api("GET", f"/api/webhooks/{endpoint['id']}/deliveries?limit=200")
    finally:
        outage.cancel()
        receiver.close()
        shutil.rmtree(home, ignore_errors=True)
    if missing:
        print(f"flaky: {len(missing)} not delivered; the endpoint: {endpoint}")
    errors = Counter(a["error"] for d in log["deliveries"] for a in d["log"])
    hits = list(receiver.hits)
    same_id = all(h.webhook_id == h.body["data"]["id"] for h in hits)
    view = sorted(receiver.delivered().values(), key=lambda h: h.webhook_id)
    in_order = True
    for item in ITEMS:
        seen = [
            stamp(h.body["data"]["observedAt"]) for h in view if h.body["data"]["itemId"] == item
        ]
        in_order &= seen == sorted(seen)
    return {
        "events": len(ids),
        "attempts": len(hits),
        "failed_attempts": sum(1 for h in hits if h.status >= 300),
        "unconnected_attempts": errors["connect"] + errors["protocol"],
        "duplicates": sum(1 for h in hits if 200 <= h.status < 300) - len(receiver.delivered()),
        "delivered_fraction": (len(ids) - len(missing)) / len(ids) if ids else 0.0,
        "same_webhook_id": same_id,
        "per_item_order": in_order,
    }


def measure_kill(seconds: float, services: devservices.DevServices | None) -> dict[str, Any]:
    """Embedded (``services`` None): SIGKILL to ``jditem serve``, then a restart on the same
    database. Scale-out: SIGKILL to ``jditem worker`` (the only dispatcher: the API
    processes run none with ``--workers 0``), then a new ``jditem worker``."""

    def slow(n: int, path: str) -> int:
        time.sleep(0.3)
        return 204

    receiver = Receiver(slow)
    home = Path(tempfile.mkdtemp(prefix="jditem-bench-alerts-kill-"))
    short = {"JDITEM_WEBHOOK_TIMEOUT_SECONDS": "2", "JDITEM_LEASE_SECONDS": "2"}

    def doomed(server: Server, victim: subprocess.Popen[bytes]) -> tuple[set[str], int, int]:
        """Drive, wait until a delivery is in flight with some done, SIGKILL ``victim``;
        the owed ids, the delivered ones and those in flight at the kill."""
        server.prepare(receiver.url)
        server.drive(seconds)
        expected = {e["id"] for e in server.expected()}
        for _ in range(600):  # bounded: 30 s
            if receiver.hits and receiver.arrived.total() > len(receiver.hits):
                break
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        in_flight = receiver.arrived.total() - len(receiver.hits)
        before = len(receiver.delivered())
        victim.wait(10)
        return expected, before, in_flight

    try:
        if services is None:
            with embedded(home, **short) as (server, serve):
                expected, before, in_flight = doomed(server, serve)
            with embedded(home, **short):
                missing = wait_delivered(receiver, expected, 180)
        else:
            with scale_out(services, home, **short) as deployment:
                expected, before, in_flight = doomed(deployment.server, deployment.worker)
                with deployment.another_worker("worker-after-kill"):
                    missing = wait_delivered(receiver, expected, 180)
    finally:
        receiver.close()
        shutil.rmtree(home, ignore_errors=True)
    return {
        "events": len(expected),
        "delivered_before_kill": before,
        "in_flight_at_kill": in_flight,
        "lost_after_kill": len(missing),
        "duplicates": sum(1 for h in receiver.hits if 200 <= h.status < 300)
        - len(receiver.delivered()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, help="calls per scenario, seconds (20; quick 8)")
    parser.add_argument("--down", type=float, default=2.0, help="the flaky receiver's outage")
    parser.add_argument("--quick", action="store_true", help="short run (under 5 minutes)")
    parser.add_argument("--no-scale-out", action="store_true", help="skip PostgreSQL + Redis")
    parser.add_argument("--no-fanout", action="store_true", help="skip the 1,000 endpoints")
    args = parser.parse_args()
    seconds = args.seconds or (8.0 if args.quick else 20.0)
    print(f"{seconds:g} s of calls per scenario; {load_average()} at start")
    results: dict[str, Any] = {}

    bursts = 2 if args.quick else 5
    home = Path(tempfile.mkdtemp(prefix="jditem-bench-alerts-emb-"))
    try:
        with embedded(home) as (server, _):
            rows = [("embedded (SQLite, 1 process)", measure_latency(server, seconds))]
            burst_rows = [("embedded", measure_burst(server.base, bursts))]
    finally:
        shutil.rmtree(home, ignore_errors=True)
    kills: dict[str, dict[str, Any]] = {}
    if not args.no_scale_out:
        services = devservices.start()
        home = Path(tempfile.mkdtemp(prefix="jditem-bench-alerts-so-"))
        try:
            with scale_out(services, home) as deployment:
                so = measure_latency(deployment.server, seconds)
                burst_rows.append(("scale-out", measure_burst(deployment.server.base, bursts)))
            rows.append(("scale-out (2 API processes + worker, PostgreSQL + Redis)", so))
            kills["scale_out"] = measure_kill(seconds, services)
        finally:
            services.stop()
            shutil.rmtree(home, ignore_errors=True)
    print("\n| deployment | calls | events delivered | p50 s | p95 s | max s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(
            f"| {name} | {r['calls']} | {r['events'] - r['missing']}/{r['events']} "
            f"| {r['p50']:.3f} | {r['p95']:.3f} | {r['max']:.3f} |"
        )
    print(
        f"\nbursts of {len(BURST_ITEMS)} calls at once (4 lists, 3 endpoints), {bursts} per "
        "deployment, latency of every delivery:\n"
    )
    print(
        "| deployment | bursts | events (with a kind) | deliveries | a burst's events "
        "stored within s | p50 s | p95 s | max s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in burst_rows:
        print(
            f"| {name} | {r['bursts']} | {r['events']} ({r['notified']}) "
            f"| {r['deliveries'] - r['missing']}/{r['deliveries']} | {r['stored_within']:.2f} "
            f"| {r['p50']:.3f} | {r['p95']:.3f} | {r['max']:.3f} |"
        )
    for key, (_, r) in zip(("embedded", "scale_out"), rows, strict=False):
        results[f"latency_p95_s_{key}"] = round(r["p95"], 3)
    for name, r in burst_rows:
        results[f"burst_p95_s_{name.replace('-', '_')}"] = round(r["p95"], 3)

    flaky = measure_flaky(seconds, args.down)
    print(
        f"\nflaky receiver (50 % 500s, connections refused for {args.down:g} s): "
        f"{flaky['events']} events, {flaky['attempts']} answered attempts "
        f"({flaky['failed_attempts']} failed, {flaky['duplicates']} duplicate 2xx), "
        f"{flaky['unconnected_attempts']} attempts without a connection (the dispatcher's "
        f"log); delivered {flaky['delivered_fraction']:.1%}; webhook-id = event id on every "
        f"attempt: {flaky['same_webhook_id']}; per-item order in the dedup view: "
        f"{flaky['per_item_order']}"
    )
    results["delivered_fraction"] = round(flaky["delivered_fraction"], 4)
    results["same_webhook_id"] = flaky["same_webhook_id"]
    results["per_item_order"] = flaky["per_item_order"]
    results["refused_attempts"] = flaky["unconnected_attempts"]

    kills = {"embedded": measure_kill(seconds, None), **kills}
    for name, kill in kills.items():
        victim = "jditem serve" if name == "embedded" else "jditem worker"
        print(
            f"kill -9 of {victim} mid-delivery ({name}): {kill['events']} events, "
            f"{kill['delivered_before_kill']} delivered before the kill "
            f"({kill['events'] - kill['delivered_before_kill']} pending, "
            f"{kill['in_flight_at_kill']} of them in flight), {kill['lost_after_kill']} lost after "
            f"the restart, {kill['duplicates']} duplicate 2xx (at least once)"
        )
        results[f"lost_after_kill_{name}"] = kill["lost_after_kill"]
    results["lost_after_kill"] = sum(k["lost_after_kill"] for k in kills.values())

    if not args.no_fanout:
        accounts = 10 if args.quick else 50
        table = measure_fanout(seconds, 1 if args.quick else 2, accounts)
        print(
            f"\n{accounts * 20} endpoints ({accounts} accounts x 20), one server without and one "
            "with a hanging endpoint, rounds alternating:"
        )
        print(
            "\n| server | round | calls | deliveries to answering endpoints | p50 s | p95 s "
            "| attempts at the hanging one |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for n, row in enumerate(table):
            print(
                f"| {row['server']} | {n + 1} | {row['calls']} | {row['deliveries']}/{row['due']} "
                f"| {row['p50']:.3f} | {row['p95']:.3f} | {row['hang_attempts']} |"
            )
        p95 = {
            name: statistics.median(r["p95"] for r in table if r["server"] == name)
            for name in ("plain", "hanging")
        }
        results["fanout_endpoints"] = accounts * 20
        results["fanout_p95_s"] = {k: round(v, 3) for k, v in p95.items()}
        results["fanout_p95_ratio_hanging_plain"] = round(p95["hanging"] / p95["plain"], 2)
    results["events"] = {
        "embedded": rows[0][1]["events"],
        "flaky": flaky["events"],
        **{f"kill_{name}": kill["events"] for name, kill in kills.items()},
    }
    print(f"\n{load_average()} at the end")
    print(json.dumps({**results, "load_average_end": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    main()
