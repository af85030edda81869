"""Client overhead: time per ``fetch`` against the local server, three clients, one run.

Compares, against the same embedded server (a separate process, so client and server
do not share a GIL), sequential calls over one keep-alive connection each:

* ``jditem``   — ``jditem.Client.fetch(item)`` (request building, classification,
                 envelope parsing, redaction set-up);
* ``httpx``    — ``httpx.Client.get(url, params=...)`` + ``response.json()``, the floor;
* ``justoneapi`` — the vendor SDK, ``JustOneAPIClient(...).jd.get_item_detail_v2``.

The item is served from the server's result cache (code 0 at once), so wall time is
the HTTP round trip plus each client's own work; on a busy machine the server's share
is noisy, so the client process's CPU time per call (``time.process_time``; the server
runs in another process) is reported too — that is the client's own overhead. Rounds
are interleaved (A, B, C, A, B, C, ...) and the median of per-round means is reported.

Run: ``.venv/bin/python benchmarks/client_overhead.py [--calls 300] [--rounds 5]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ITEM = "100012043978"
PATH = "/api/jd/get-item-detail/v2"


def serve() -> None:
    """Child mode: run the server, print ``{"base_url", "token"}``, wait for stdin EOF."""
    sys.path.insert(0, str(ROOT))
    from tests.support.live_server import live_server

    with live_server(log_level="error", redact_access_log=True) as live:
        token = live.make_token("bench", balance_yuan="1000000")
        assert live.get(ITEM, token).json()["code"] == 0  # warm the result cache
        print(json.dumps({"base_url": live.base_url, "token": token}), flush=True)
        sys.stdin.read()


def time_calls(fn: Callable[[], object], calls: int) -> tuple[float, float]:
    """Mean (wall, client CPU) seconds per call over ``calls`` sequential calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per client per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return

    import httpx
    from justoneapi import JustOneAPIClient

    from jditem import Client

    child = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert child.stdout is not None
        info = json.loads(child.stdout.readline())
        base_url, token = info["base_url"], info["token"]
        ours = Client(token, base_url=base_url)
        raw = httpx.Client(base_url=base_url, timeout=120)
        vendor = JustOneAPIClient(token, base_url=base_url, timeout=120)

        def raw_fetch() -> object:
            return raw.get(PATH, params={"token": token, "itemId": ITEM}).json()

        contenders: dict[str, Callable[[], object]] = {
            "httpx (raw)": raw_fetch,
            "jditem Client.fetch": lambda: ours.fetch(ITEM),
            "justoneapi SDK": lambda: vendor.jd.get_item_detail_v2(item_id=ITEM),
        }
        for fn in contenders.values():  # warm-up: connections, caches, imports
            time_calls(fn, 20)
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
        for _ in range(args.rounds):
            for name, fn in contenders.items():
                results[name].append(time_calls(fn, args.calls))
        ours.close()
        raw.close()
        vendor.close()
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(timeout=30)

    wall_floor = statistics.median(w for w, _ in results["httpx (raw)"])
    cpu_floor = statistics.median(c for _, c in results["httpx (raw)"])
    print(f"calls per client per round: {args.calls}, rounds: {args.rounds}")
    print("| client | wall ms/call (median) | wall ratio | client CPU µs/call | CPU ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, values in results.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        print(
            f"| {name} | {wall * 1000:.2f} | {wall / wall_floor:.2f}× "
            f"| {cpu * 1e6:.0f} | {cpu / cpu_floor:.2f}× |"
        )


if __name__ == "__main__":
    main()
