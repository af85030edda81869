"""What history costs per observation: the tracked state, its memo, the change test.

Side by side in one run, CPU µs per call (``time.process_time``; median of ``--rounds``
rounds over ``--items`` sandbox payloads at distinct instants, plus the real JD fixture
``tests/fixtures/jd-detail-v1-abridged.json``):

* ``Product.from_payload`` — the one normalizer, the reference (ratio 1.00);
* ``tracked_state`` cold — normalizer + the tracked fields + canonical JSON + digest;
* ``tracked_state_json`` memo hit — the same for a stored result already seen (what a
  cached call pays when the state is memoised per stored result, see
  :mod:`jditem.server.monitor.tracked`);
* ``observe`` unchanged — the common case: one digest comparison;
* ``observe`` changed — carry the price + ``diff``;
* ``encode`` / ``decode`` — the stored text of a change point;
* ``classify`` — kinds of a change (lows given).

The end-to-end figure (a cached charged call with history writing on vs off) is issue
19's ``benchmarks/monitoring_core.py``; this one says which part of it the pure pieces
take. The last line is one JSON object.

    .venv/bin/python benchmarks/monitor_tracked.py          # --items 300 --rounds 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from jditem.protocol.product import Product
from jditem.server.collectors.drift import drifted_payload
from jditem.server.monitor.kinds import WINDOWS_DAYS, classify
from jditem.server.monitor.tracked import (
    TrackedState,
    decode,
    observe,
    tracked_state,
    tracked_state_json,
)

START = datetime(2026, 6, 1, tzinfo=UTC)
FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "jd-detail-v1-abridged.json"


def per_call_us(args: Sequence[Any], call: Callable[[Any], object], rounds: int) -> float:
    """Median over rounds of the mean CPU µs per call over ``args``."""
    results = []
    repeat = max(1, 3000 // len(args))
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(repeat):
            for arg in args:
                call(arg)
        results.append((time.process_time() - started) / (len(args) * repeat) * 1e6)
    return statistics.median(results)


def measure(payloads: list[dict[str, Any]], rounds: int) -> dict[str, float]:
    bodies = [json.dumps(p, ensure_ascii=False).encode() for p in payloads]
    states = [tracked_state(p) for p in payloads]
    same = [(s, tracked_state(p)) for s, p in zip(states, payloads, strict=True)]
    changed = [
        (s, TrackedState(**{**vars_of(s), "title": s.title + "!", "price_current": Decimal(1)}))
        for s in states
    ]
    encoded = [s.encode() for s in states]
    lows = dict.fromkeys(WINDOWS_DAYS, Decimal(2))
    for body in bodies:
        tracked_state_json(body)  # warm the memo
    return {
        "from_payload": per_call_us(payloads, Product.from_payload, rounds),
        "tracked_state": per_call_us(payloads, tracked_state, rounds),
        "memo_hit": per_call_us(bodies, tracked_state_json, rounds),
        "observe_unchanged": per_call_us(same, lambda pair: observe(*pair), rounds),
        "observe_changed": per_call_us(changed, lambda pair: observe(*pair), rounds),
        "encode": per_call_us(states, TrackedState.encode, rounds),
        "decode": per_call_us(encoded, decode, rounds),
        "classify": per_call_us(changed, lambda pair: classify(pair[0], pair[1], lows), rounds),
    }


def vars_of(state: TrackedState) -> dict[str, Any]:
    names = [n for n, f in TrackedState.__dataclass_fields__.items() if f.init]
    return {n: getattr(state, n) for n in names if n != "known_price"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    ids = [str(100_000_000_000 + n * 7919) for n in range(args.items)]
    sandbox = [drifted_payload(i, START + timedelta(hours=7.3 * n)) for n, i in enumerate(ids)]
    real = [json.loads(FIXTURE.read_text(encoding="utf-8"))["data"]]
    size = {
        "sandbox": statistics.median(len(json.dumps(p).encode()) for p in sandbox),
        "real JD": len(json.dumps(real[0]).encode()),
    }
    results = {"sandbox": measure(sandbox, args.rounds), "real JD": measure(real, args.rounds)}
    print(f"CPU µs per call, median of {args.rounds} rounds (ratio: ÷ Product.from_payload)\n")
    print("| step | " + " | ".join(f"{k} ({size[k]:,.0f} B) µs | ratio" for k in results) + " |")
    print("|---|" + "---:|---:|" * len(results))
    for step in results["sandbox"]:
        cells = []
        for name in results:
            value, base = results[name][step], results[name]["from_payload"]
            cells.append(f"{value:,.2f} | {value / base:.3f}")
        print(f"| `{step}` | " + " | ".join(cells) + " |")
    print(json.dumps({name: {k: round(v, 3) for k, v in r.items()} for name, r in results.items()}))


if __name__ == "__main__":
    main()
