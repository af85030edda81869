"""The adaptive re-check policy (SPEC §6.4): properties that hold for every input.

Bounds always hold, the budget is never overspent, an item that never changes drifts to
``max_interval``, a higher rate never waits longer, and the rate estimate is consistent
on simulated Poisson processes (fixed seeds; tolerances several standard errors wide).
"""

from __future__ import annotations

import ast
import itertools
import math
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jditem.server.monitor import policy
from jditem.server.monitor.policy import (
    DAY,
    Bounds,
    ChangeStats,
    InfeasibleBudget,
    SaleDays,
    Target,
    affordable,
    binned,
    interval,
    min_checks_per_day,
    next_check,
    plan,
    prior,
    rate,
    update,
)

HOUR = 3600.0
NOW = datetime(2025, 3, 3, tzinfo=UTC).timestamp()

bounds_st = st.builds(
    lambda low, spread: Bounds(low, low * spread),
    st.floats(60, 6 * HOUR),
    st.floats(1, 2000),
)
rate_st = st.one_of(
    st.just(0.0),
    st.floats(1e-12, 1e-2),
    st.floats(1e-9, 1 / 60).map(lambda r: r),
)
rates_st = st.lists(rate_st, min_size=1, max_size=60)


def budget_for(rates: list[float], bounds: Bounds, slack: float) -> float:
    """A feasible budget: the least one, times 1 + slack."""
    return min_checks_per_day(len(rates), bounds) * (1 + slack)


@settings(max_examples=300, deadline=None)
@given(
    rates=rates_st,
    bounds=bounds_st,
    slack=st.floats(0, 1000),
    within=st.none() | st.floats(60, 30 * DAY),
    at=st.floats(NOW, NOW + 365 * DAY),
    phase=st.floats(0, 0.999),
)
def test_intervals_stay_within_the_bounds(
    rates: list[float],
    bounds: Bounds,
    slack: float,
    within: float | None,
    at: float,
    phase: float,
) -> None:
    target = Target(
        within=within, checks_per_day=budget_for(rates, bounds, slack), sale_days=SaleDays()
    )
    p = plan(rates, bounds, target, at=at)
    for r in rates:
        assert bounds.min_interval <= interval(r, p) <= bounds.max_interval
    stats = prior()
    for changed in (True, False, True):
        stats = update(stats, bounds.min_interval, changed)
        wait = next_check(at, stats, p, phase=phase) - at
        ulp = 2 * math.ulp(at)  # now + wait - now in floats, not the policy
        assert bounds.min_interval - ulp <= wait <= bounds.max_interval + ulp


@settings(max_examples=300, deadline=None)
@given(
    rates=rates_st,
    bounds=bounds_st,
    slack=st.floats(0, 50) | st.floats(0, 1e6),
    per_change=st.floats(0.5, 1000),
    within=st.none() | st.floats(60, 30 * DAY),
)
def test_never_more_planned_checks_than_the_budget(
    rates: list[float], bounds: Bounds, slack: float, per_change: float, within: float | None
) -> None:
    budget = budget_for(rates, bounds, slack)
    target = Target(within=within, checks_per_day=budget, max_checks_per_change=per_change)
    # Checks a day are summed in floats: at a budget of exactly one check per max_interval
    # per item, the sum may differ from the budget in its last bit (1e-16, not a check).
    allowed = budget * (1 + 1e-12)
    p = plan(rates, bounds, target)
    assert p.checks_per_day <= allowed
    assert sum(DAY / interval(r, p) for r in rates) <= allowed
    # a scheduler at a million items plans over binned rates; the items' own stay within
    edges, counts = binned(rates)
    q = plan(edges, bounds, target, counts=counts)
    assert q.checks_per_day <= allowed
    assert sum(DAY / interval(r, q) for r in rates) <= allowed


@settings(max_examples=200, deadline=None)
@given(rates=rates_st, bounds=bounds_st, slack=st.floats(0, 1000))
def test_a_binding_budget_is_spent(rates: list[float], bounds: Bounds, slack: float) -> None:
    """The allocation does not leave budget unspent while some item could use it."""
    budget = budget_for(rates, bounds, slack)
    p = plan(rates, bounds, Target(checks_per_day=budget))
    ceiling = plan(rates, bounds, Target(checks_per_day=1e12)).checks_per_day
    assert p.checks_per_day == pytest.approx(min(budget, ceiling), rel=1e-6)


def test_a_budget_too_small_for_the_list_is_refused_with_the_floor_named() -> None:
    bounds = Bounds(300, 7 * DAY)
    with pytest.raises(InfeasibleBudget, match=r"cannot check 1000 items .* needs 142\.857"):
        plan([1 / DAY] * 1000, bounds, Target(checks_per_day=100))
    plan([1 / DAY] * 1000, bounds, Target(checks_per_day=min_checks_per_day(1000, bounds)))


@settings(max_examples=100, deadline=None)
@given(
    bounds=st.builds(
        lambda low, spread: Bounds(low, min(30 * DAY, low * spread)),
        st.floats(300, 6 * HOUR),
        st.floats(4, 2000),
    ),
    others=st.lists(st.floats(1e-7, 1e-3), max_size=20),
    spend=st.floats(1, 1e6),
    prior_rate=st.floats(1 / (30 * DAY), 1 / 60),
)
def test_an_item_that_never_changes_converges_to_max_interval(
    bounds: Bounds, others: list[float], spend: float, prior_rate: float
) -> None:
    """Whatever the list around it and however large the budget (in fewer checks than
    the bound here when the bounds are at least 5 min and 4× apart)."""
    budget = min_checks_per_day(len(others) + 1, bounds) * (1 + spend)
    target = Target(checks_per_day=budget)
    stats, now, waits = prior(prior_rate), NOW, []
    for _ in range(20_000):
        p = plan([*others, rate(stats)], bounds, target)
        wait = next_check(now, stats, p) - now
        waits.append(interval(rate(stats), p))
        if waits[-5:] == [bounds.max_interval] * 5:
            break
        now += wait
        stats = update(stats, wait, changed=False)
    assert waits[-5:] == [bounds.max_interval] * 5
    assert len(waits) < 20_000


@settings(max_examples=300, deadline=None)
@given(
    rates=rates_st,
    bounds=bounds_st,
    slack=st.floats(0, 1000),
    within=st.none() | st.floats(60, 30 * DAY),
    index=st.integers(0, 59),
    boost=st.floats(1, 1000),
)
def test_a_higher_rate_never_waits_longer(
    rates: list[float],
    bounds: Bounds,
    slack: float,
    within: float | None,
    index: int,
    boost: float,
) -> None:
    target = Target(within=within, checks_per_day=budget_for(rates, bounds, slack))
    p = plan(rates, bounds, target)
    ordered = sorted(rates)
    waits = [interval(r, p) for r in ordered]
    assert all(a >= b for a, b in itertools.pairwise(waits))
    # and one item's rate rising, the list replanned at the same budget: its wait never
    # grows. (Not so under a lag target alone: an item that dominates the list's changes
    # meets the mean lag with less, so its interval may lengthen as its rate grows.)
    budget_only = Target(checks_per_day=target.checks_per_day)
    before = plan(rates, bounds, budget_only)
    i = index % len(rates)
    raised = [*rates]
    raised[i] = max(rates[i] * boost, rates[i] + 1e-9)
    after = plan(raised, bounds, budget_only)
    assert interval(raised[i], after) <= interval(rates[i], before) * (1 + 1e-9)


def poisson_checks(lam: float, waits: list[float], rng: random.Random) -> list[bool]:
    """Whether each check saw a change, for a real Poisson event stream of rate ``lam``."""
    seen, now, event = [], 0.0, rng.expovariate(lam)
    for wait in waits:
        now += wait
        seen.append(event <= now)
        while event <= now:
            event += rng.expovariate(lam)
    return seen


@pytest.mark.parametrize("period", [HOUR, DAY, 7 * DAY])
@pytest.mark.parametrize(("spread", "tolerance"), [(1.0, 0.06), (2.0, 0.1)])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_estimate_is_consistent_on_poisson_processes(
    period: float, spread: float, tolerance: float, seed: int
) -> None:
    """5,000 checks at intervals drawn log-uniformly in [mean / spread, mean · spread]
    around the item's mean period: the estimate lands within ``tolerance`` (the standard
    error is about 2 %; the closed form reads a little low when intervals vary)."""
    rng = random.Random(seed)
    waits = [period * spread ** rng.uniform(-1, 1) for _ in range(5000)]
    stats = prior()
    for wait, changed in zip(waits, poisson_checks(1 / period, waits, rng), strict=True):
        stats = update(stats, wait, changed, half_life=math.inf)
    assert rate(stats) * period == pytest.approx(1.0, abs=tolerance)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_decayed_estimate_follows_a_rate_that_moves(seed: int) -> None:
    """Half-life 14 days: 60 days at one rate, then 60 at four times it."""
    rng = random.Random(seed)
    waits = [HOUR] * (120 * 24)
    before = poisson_checks(1 / (8 * HOUR), waits[: 60 * 24], rng)
    after = poisson_checks(1 / (2 * HOUR), waits[60 * 24 :], rng)
    stats = prior()
    for n, (wait, changed) in enumerate(zip(waits, before + after, strict=True)):
        stats = update(stats, wait, changed)
        if n == 60 * 24 - 1:
            assert rate(stats) * 8 * HOUR == pytest.approx(1.0, abs=0.25)
    assert rate(stats) * 2 * HOUR == pytest.approx(1.0, abs=0.25)


@given(wait=st.floats(1, DAY), changed=st.booleans(), prior_rate=st.floats(1e-7, 1e-2))
def test_one_check_does_not_swing_a_new_items_estimate(
    wait: float, changed: bool, prior_rate: float
) -> None:
    """A check up to one prior mean period long moves the prior's rate by less than 2×."""
    start = prior(prior_rate)
    assert rate(start) == pytest.approx(prior_rate)
    after = rate(update(start, min(wait, 1 / prior_rate), changed))
    assert prior_rate / 2 < after < prior_rate * 2


def test_the_estimate_handles_the_edges() -> None:
    assert rate(ChangeStats(0.0, 0.0, 0.0)) == 0.0
    assert rate(ChangeStats(3.0, 0.0, 0.0)) == policy.MAX_RATE
    assert rate(ChangeStats(3.0, 30.0, 0.0)) <= policy.MAX_RATE
    assert rate(update(prior(), 0.0, changed=True)) > rate(prior())
    with pytest.raises(ValueError, match="interval must be a finite number"):
        update(prior(), -1.0, changed=True)
    with pytest.raises(ValueError, match="prior rate must be a positive number"):
        prior(0.0)


def test_the_lag_target_is_met_at_the_least_spend() -> None:
    """'Within about N hours' plans a mean lag of N/2, for fewer checks than a fixed N."""
    rng = random.Random(7)
    rates = [1 / (DAY * 7 ** rng.random()) for _ in range(500)] + [1 / HOUR] * 20
    bounds = Bounds(300, 7 * DAY)
    p = plan(rates, bounds, Target(within=6 * HOUR))
    assert p.mean_lag == pytest.approx(3 * HOUR, rel=1e-6)
    assert p.checks_per_day < len(rates) * 4
    out_of_reach = plan(rates, bounds, Target(within=60))
    assert out_of_reach.scale == math.inf
    assert out_of_reach.mean_lag is not None
    assert out_of_reach.mean_lag > 30
    both = plan(rates, bounds, Target(within=6 * HOUR, checks_per_day=1000))
    assert both.checks_per_day <= 1000
    assert both.mean_lag is not None
    assert both.mean_lag > 3 * HOUR


def test_the_allocation_follows_the_square_root_rule() -> None:
    """Unclipped, an item checked 4× as often changes 16× as often."""
    bounds = Bounds(60, 30 * DAY)
    p = plan([1 / DAY, 16 / DAY], bounds, Target(checks_per_day=10, max_checks_per_change=1e6))
    slow, fast = (interval(r, p) for r in (1 / DAY, 16 / DAY))
    assert slow / fast == pytest.approx(4.0)
    assert DAY / slow + DAY / fast == pytest.approx(10.0)


def local(*args: int) -> float:
    """Asia/Shanghai wall time as Unix seconds."""
    return datetime(*args, tzinfo=UTC).timestamp() - 8 * 3600  # type: ignore[misc]


def test_sale_windows_are_shanghai_days_around_618_and_1111() -> None:
    sale = SaleDays()
    assert sale.window_at(local(2025, 6, 18, 12)) == (local(2025, 6, 15), local(2025, 6, 21))
    assert sale.window_at(local(2025, 6, 14, 23, 59)) is None
    assert sale.next_window(local(2025, 7, 1)) == (local(2025, 11, 8), local(2025, 11, 14))
    assert sale.next_window(local(2025, 12, 1)) == (local(2026, 6, 15), local(2026, 6, 21))
    assert sale.next_boundary(local(2025, 6, 16)) == local(2025, 6, 21)
    with pytest.raises(ValueError, match="is no date"):
        SaleDays(days=((2, 30),))


def test_sale_days_tighten_a_lag_target_and_spend_the_sale_day_budget() -> None:
    rates = [1 / DAY] * 100
    bounds = Bounds(300, 7 * DAY)
    target = Target(
        within=12 * HOUR,
        checks_per_day=400,
        sale_days=SaleDays(factor=4),
        sale_day_checks_per_day=1200,
    )
    ordinary = plan(rates, bounds, target, at=local(2025, 6, 1))
    sale = plan(rates, bounds, target, at=local(2025, 6, 18))
    assert sale.factor == 4
    assert interval(1 / DAY, sale) < interval(1 / DAY, ordinary)
    assert ordinary.checks_per_day <= 400
    assert 400 < sale.checks_per_day <= 1200
    with pytest.raises(ValueError, match="needs the plan's time"):
        plan(rates, bounds, target)


def test_an_item_that_would_sleep_through_a_sale_is_pulled_into_it() -> None:
    bounds = Bounds(300, 7 * DAY)
    target = Target(checks_per_day=1, sale_days=SaleDays())
    now = local(2025, 6, 13)
    p = plan([0.0], bounds, target, at=now)
    assert interval(0.0, p) == 7 * DAY
    for phase in (0.0, 0.5, 0.99):
        due = next_check(now, prior(1e-9), p, phase=phase)
        assert local(2025, 6, 15) <= due < local(2025, 6, 21)
        assert due - now >= bounds.min_interval


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs `within`"),
        ({"within": -1.0}, "within must be a positive number"),
        ({"checks_per_day": math.nan}, "checks_per_day must be a positive number"),
        ({"checks_per_day": 10.0, "sale_day_checks_per_day": 20.0}, "needs sale_days"),
        (
            {"checks_per_day": 10.0, "sale_days": SaleDays(), "sale_day_checks_per_day": 5.0},
            "must be ≥ checks_per_day",
        ),
    ],
)
def test_targets_refuse_what_they_cannot_mean(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Target(**kwargs)  # type: ignore[arg-type]


def test_bounds_money_and_bins() -> None:
    with pytest.raises(ValueError, match="min_interval ≤ max_interval"):
        Bounds(600, 300)
    assert affordable(1000, 3) == 333
    with pytest.raises(ValueError, match="price > 0"):
        affordable(1000, 0)
    edges, counts = binned([1e-5, 1.01e-5, 0.0, 0.0, 3e-3])
    assert sum(counts) == 5
    assert counts[edges.index(0.0)] == 2
    assert all(e >= 1e-5 for e in edges if e)
    assert min(e for e in edges if e) <= 1e-5 * 2 ** (1 / 16)


def test_the_policy_is_pure() -> None:
    """No I/O, no clock, no randomness: policy.py imports only these."""
    tree = ast.parse(Path(policy.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= {"__future__", "collections", "dataclasses", "datetime", "math"}
    source = Path(policy.__file__).read_text(encoding="utf-8")
    assert ".now(" not in source
    assert "time()" not in source
