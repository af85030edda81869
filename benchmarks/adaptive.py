"""Adaptive re-check scheduling against fixed intervals, in one simulated world (issue 21).

The world (``jditem.server.monitor.replay.poisson_world``): 1,000 items over 30 simulated
days, heterogeneous Poisson change rates drawn from the sandbox drift's classes — 5 %
about hourly (mean interval 20 min – 3 h), 70 % daily to weekly, 15 % every 1 – 8 weeks,
10 % never — where a change undoes the one before with probability 0.25. The same world
(same seed) is replayed under every policy, through the policy code the scheduler uses.

Policies: fixed 1 h, 6 h and 24 h (first checks spread over the first interval); adaptive
(``policy.plan`` / ``next_check``, bounds 5 min – 7 days, replanned hourly, the daily
budget enforced as the scheduler does: a day that has spent it waits for the next).

* (a) **equal charges to fixed 6 h**: the largest adaptive budget whose charges do not
  exceed fixed 6 h's; compared: detected changes and mean detection lag (aim: ≥ the same
  detected, lag ≤ 0.6×).
* (b) **equal lag to fixed 1 h**: the smallest adaptive budget whose mean detection lag
  does not exceed fixed 1 h's; compared: charges (aim ≤ 0.4×).

Both budgets are found by bracketed bisection on the log of the budget (Illinois
regula falsi), kept on the safe side (charges ≤, lag ≤ the fixed policy's). Two more rows:
the user-facing lag target "notice a change within about 1 hour" with no budget, and
(b)'s budget with every item's true rate given instead of learnt (what learning costs).
The last line is one JSON object.

``--world drift`` replays the sandbox's own drift (``jditem.server.collectors.drift``) over
synthetic item ids instead, in versions that have it.

Run: ``.venv/bin/python benchmarks/adaptive.py [--quick] [--seed 0] [--world drift]``
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable

from jditem.server.monitor.policy import DAY, Bounds, Target, min_checks_per_day
from jditem.server.monitor.replay import (
    HOUR,
    START,
    Adaptive,
    FixedInterval,
    Metrics,
    World,
    drift_world,
    poisson_world,
    replay,
)

BOUNDS = Bounds(5 * 60.0, 7 * DAY)
TOLERANCE = 0.002  # relative match of charges or lag
MAX_RUNS = 14  # per search


def run_budget(world: World, per_day: float) -> Metrics:
    """The adaptive policy at a budget of ``per_day`` checks a day."""
    scheduler = Adaptive(BOUNDS, Target(checks_per_day=per_day))
    return replay(world, scheduler, daily_cap=math.floor(per_day))


def search(
    world: World, value: Callable[[Metrics], float], goal: float, guess: float, *, rising: bool
) -> tuple[float, Metrics, int]:
    """The budget whose ``value`` meets ``goal`` from the safe side (≤ goal), its metrics,
    and the runs it took. ``rising``: ``value`` grows with the budget (charges) or falls
    (lag); either way g(budget) = ±log(value / goal) rises, and the safe side is g ≤ 0 for
    charges, g ≥ 0 for lag."""
    floor = min_checks_per_day(len(world.items), BOUNDS) * 1.0001
    runs = 0

    def g(budget: float) -> tuple[float, Metrics]:
        nonlocal runs
        runs += 1
        metrics = run_budget(world, budget)
        ratio = math.log(value(metrics) / goal)
        return (ratio if rising else -ratio), metrics

    def safe(score: float) -> bool:
        return score <= 0 if rising else score >= 0

    best: tuple[float, float, Metrics] | None = None  # (|g|, budget, metrics), safe side

    def keep(budget: float, score: float, metrics: Metrics) -> None:
        nonlocal best
        if safe(score) and (best is None or abs(score) < best[0]):
            best = (abs(score), budget, metrics)

    low = high = max(guess, floor)
    score, metrics = g(low)
    keep(low, score, metrics)
    low_g = high_g = score
    while low_g > 0 and low > floor and runs < MAX_RUNS:  # bracket from below
        high, high_g = low, low_g
        low = max(floor, low / 1.3)
        low_g, metrics = g(low)
        keep(low, low_g, metrics)
    while high_g < 0 and runs < MAX_RUNS:  # bracket from above
        low, low_g = high, high_g
        high *= 1.3
        high_g, metrics = g(high)
        keep(high, high_g, metrics)
    side = 0
    while best is not None and best[0] > TOLERANCE and runs < MAX_RUNS and high_g > low_g:
        # Illinois: a secant on (log budget, g), halving the weight of a stuck end
        x0, x1 = math.log(low), math.log(high)
        x = x1 - high_g * (x1 - x0) / (high_g - low_g)
        budget = math.exp(min(max(x, x0), x1))
        score, metrics = g(budget)
        keep(budget, score, metrics)
        if score > 0:
            high, high_g = budget, score
            low_g = low_g / 2 if side == 1 else low_g
            side = 1
        else:
            low, low_g = budget, score
            high_g = high_g / 2 if side == -1 else high_g
            side = -1
    if best is None:
        raise SystemExit("no adaptive budget met the goal from the safe side; widen the search")
    return best[1], best[2], runs


def row(name: str, budget: str, m: Metrics) -> str:
    return (
        f"| {name} | {budget} | {m.checks:,} | {m.detected:,} | {m.superseded:,} | {m.missed:,} "
        f"| {m.mean_lag / HOUR:.3f} | {m.charges_per_detected:.2f} | {m.empty_share:.1%} "
        f"| {m.busiest_day:,} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 items instead of 1,000")
    parser.add_argument("--items", type=int, default=None, help="items in the world")
    parser.add_argument("--days", type=float, default=30.0, help="simulated days")
    parser.add_argument("--seed", type=int, default=0, help="the world's seed")
    parser.add_argument(
        "--world",
        choices=("poisson", "drift"),
        default="poisson",
        help="the built-in Poisson world, or the sandbox drift (versions that have it)",
    )
    args = parser.parse_args()
    items = args.items or (300 if args.quick else 1000)
    started = time.monotonic()
    if args.world == "drift":
        ids = [str(100012043978 + i) for i in range(items)]
        try:
            world = drift_world(ids, START, START + args.days * DAY, seed=args.seed)
        except RuntimeError as exc:
            raise SystemExit(f"--world drift: {exc}") from None
    else:
        world = poisson_world(items, args.days, seed=args.seed)
    print(
        f"world: {args.world}, {items:,} items, {args.days:g} days, seed {args.seed}, "
        f"{world.changes:,} changes; adaptive bounds 5 min – 7 days"
    )
    fixed = {h: replay(world, FixedInterval(h * HOUR)) for h in (1, 6, 24)}
    days = args.days
    budget_a, adaptive_a, runs_a = search(
        world, lambda m: m.checks, fixed[6].checks, fixed[6].checks / days, rising=True
    )
    budget_b, adaptive_b, runs_b = search(
        world,
        lambda m: m.mean_lag,
        fixed[1].mean_lag,
        0.4 * fixed[1].checks / days,
        rising=False,
    )
    within = replay(world, Adaptive(BOUNDS, Target(within=HOUR)))
    known = None
    if all(item.rate is not None for item in world.items):  # the Poisson world knows them
        rates = [item.rate or 0.0 for item in world.items]
        scheduler = Adaptive(BOUNDS, Target(checks_per_day=budget_b), known_rates=rates)
        known = replay(world, scheduler, daily_cap=math.floor(budget_b))

    print()
    print(
        "| policy | budget (checks/day) | charges | detected | of which superseded | missed "
        "| mean lag (h) "
        "| charges / detected | found nothing | busiest day |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for h, m in fixed.items():
        print(row(f"fixed {h} h", "–", m))
    print(row("adaptive, charges = fixed 6 h", f"{budget_a:,.0f}", adaptive_a))
    print(row("adaptive, lag = fixed 1 h", f"{budget_b:,.0f}", adaptive_b))
    print(row("adaptive, within about 1 h", "–", within))
    if known is not None:
        print(row("adaptive at (b)'s budget, rates known", f"{budget_b:,.0f}", known))

    lag_ratio = adaptive_a.mean_lag / fixed[6].mean_lag
    detected_ratio = adaptive_a.detected / fixed[6].detected
    charge_ratio = adaptive_b.checks / fixed[1].checks
    print()
    print(
        f"(a) at {adaptive_a.checks / fixed[6].checks:.3f}x fixed 6 h's charges: detected "
        f"{detected_ratio:.3f}x (aim >= 1), mean lag {lag_ratio:.3f}x (aim <= 0.6); "
        f"missed {adaptive_a.missed:,} vs {fixed[6].missed:,} ({runs_a} runs)"
    )
    print(
        f"(b) at {adaptive_b.mean_lag / fixed[1].mean_lag:.3f}x fixed 1 h's mean lag: charges "
        f"{charge_ratio:.3f}x (aim <= 0.4) ({runs_b} runs)"
    )
    print(f"took {time.monotonic() - started:.0f} s")
    summary = {
        "lag_ratio_at_equal_charges": round(lag_ratio, 4),
        "detected_ratio_at_equal_charges": round(detected_ratio, 4),
        "charge_ratio_at_equal_lag": round(charge_ratio, 4),
        "missed_changes_adaptive": adaptive_a.missed,
        "missed_changes_fixed_6h": fixed[6].missed,
        "items": items,
        "days": days,
        "seed": args.seed,
        "world": args.world,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
