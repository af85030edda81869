"""The moving sandbox's cost: one state, one payload, and a 30-day replay of 1,000 items.

Side by side in one run, in CPU µs per call (``time.process_time``, so that other jobs on
a shared machine count less; median of ``--rounds`` rounds, each over the same ``--items``
ids at distinct instants):

* ``build_payload`` — the static catalog payload (drift off), the baseline;
* ``state_at`` warm — the tracked state with the item's profile memoised (a server that
  has seen the item before); ``state_at`` cold — every memo cleared first (the first call
  for an item, including its synthetic catalog facts);
* ``state_at`` in the year 9000 — the same, 7,000 years from now (the cost does not grow
  with the distance from any origin);
* ``drifted_payload`` — what the sandbox collector serves with drift on.

Then the replay a harness runs: ``change_times`` over ``--days`` days for every item
(CPU seconds), with the changes counted by rate class. The last line is one JSON object.

    .venv/bin/python benchmarks/sandbox_drift.py            # --items 1000 --days 30 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from jditem.server.collectors import drift, poisson
from jditem.server.collectors.catalog import build_payload
from jditem.server.collectors.drift import change_times, drifted_payload, mean_interval, state_at

START = datetime(2026, 3, 2, tzinfo=UTC)
FAR = datetime(9000, 3, 2, tzinfo=UTC)


def clear_memos() -> None:
    drift._profile.cache_clear()
    drift._spell.cache_clear()
    drift._campaign.cache_clear()
    poisson._bucket_times.cache_clear()
    poisson._event_uniforms.cache_clear()


def per_call_us(ids: list[str], call: Callable[[str, datetime], object], rounds: int) -> float:
    """Median over rounds of the mean µs per call, each round at new instants."""
    results = []
    for round_no in range(rounds):
        at = [START + timedelta(hours=7.3 * (round_no * len(ids) + n)) for n in range(len(ids))]
        started = time.process_time()
        for item_id, when in zip(ids, at, strict=True):
            call(item_id, when)
        results.append((time.process_time() - started) / len(ids) * 1e6)
    return statistics.median(results)


def cold_us(ids: list[str], rounds: int) -> float:
    results = []
    for _ in range(rounds):
        elapsed = 0.0
        for item_id in ids:
            clear_memos()
            started = time.process_time()
            state_at(item_id, START)
            elapsed += time.process_time() - started
        results.append(elapsed / len(ids) * 1e6)
    return statistics.median(results)


def static(item_id: str, _: datetime) -> object:
    return build_payload(item_id)


def far(item_id: str, at: datetime) -> object:
    return state_at(item_id, at + (FAR - START))


def rate_class(item_id: str) -> str:
    hours = mean_interval(item_id) / 3600
    if hours == 0:
        return "never"
    if hours <= 3:
        return "hourly"
    return "daily-weekly" if hours <= 7 * 24 else "slow"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ids = [str(100_000_000_000 + n * 7919) for n in range(args.items)]
    for item_id in ids:  # warm the memos the warm rows assume
        state_at(item_id, START)

    rows = {  # key in the JSON line: (label, µs per call)
        "static_us": ("build_payload (static)", per_call_us(ids, static, args.rounds)),
        "state_warm_us": ("state_at warm", per_call_us(ids, state_at, args.rounds)),
        "state_year_9000_us": ("state_at warm, year 9000", per_call_us(ids, far, args.rounds)),
        "payload_warm_us": ("drifted_payload warm", per_call_us(ids, drifted_payload, args.rounds)),
        "state_cold_us": ("state_at cold", cold_us(ids[:200], args.rounds)),
    }
    baseline = rows["static_us"][1]
    print(f"{'call':28} {'CPU µs/call':>12} {'× static':>9}")
    for label, value in rows.values():
        print(f"{label:28} {value:12.1f} {value / baseline:8.2f}×")

    started = time.process_time()
    changes: dict[str, list[int]] = {}
    for item_id in ids:
        found = change_times(item_id, START, START + timedelta(days=args.days))
        changes.setdefault(rate_class(item_id), []).append(len(found))
    replay_s = time.process_time() - started
    total = sum(sum(counts) for counts in changes.values())
    print(f"\nreplay: {args.items} items x {args.days} days: {replay_s:.2f} CPU s, {total} changes")
    print(f"{'class':14} {'items':>6} {'changes':>8} {'median/item':>12}")
    for name in ("hourly", "daily-weekly", "slow", "never"):
        counts = changes.get(name, [])
        median = statistics.median(counts) if counts else 0
        print(f"{name:14} {len(counts):6} {sum(counts):8} {median:12.1f}")
    summary: dict[str, float] = {key: round(value, 1) for key, (_, value) in rows.items()}
    summary.update(replay_seconds=round(replay_s, 2), replay_changes=total)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
