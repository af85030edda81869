"""The scheduler's adaptive decisions (pure, :mod:`jditem.server.monitor.adaptive`): a
record learns only from checks after a baseline, a plan exists for any budget and keeps
bounds, an often-changing item is checked sooner than a quiet one, and a day's remaining
charges go to the checks expected to find the most changes."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from jditem.server.monitor.adaptive import (
    PRIOR,
    Candidate,
    estimate,
    expected_changes,
    list_plan,
    next_due,
    observe,
    rank,
)
from jditem.server.monitor.policy import DAY, Bounds, Target, interval

HOUR = 3600.0
BOUNDS = Bounds(10 * 60.0, DAY)


def test_the_first_check_is_a_baseline_and_teaches_nothing() -> None:
    assert observe(None, None, changed=True) == PRIOR
    quiet = observe(None, 6 * HOUR, changed=False)
    assert estimate(quiet) < estimate(PRIOR) < estimate(observe(None, HOUR, changed=True))


def test_an_often_changing_item_is_checked_sooner_than_a_quiet_one() -> None:
    busy = quiet = None
    for _ in range(30):
        busy = observe(busy, HOUR, changed=True)
        quiet = observe(quiet, DAY, changed=False)
    plan = list_plan([estimate(busy), estimate(quiet)], BOUNDS, Target(checks_per_day=40))
    busy_interval, busy_at = next_due(0.0, busy, plan)
    quiet_interval, quiet_at = next_due(0.0, quiet, plan)
    assert BOUNDS.min_interval <= busy_interval < quiet_interval <= BOUNDS.max_interval
    assert (busy_at, quiet_at) == (busy_interval, quiet_interval)


@given(
    rates=st.lists(st.floats(0, 1e-2), min_size=1, max_size=50),
    per_day=st.integers(1, 10_000),
)
def test_a_plan_exists_for_any_budget_and_keeps_the_bounds(
    rates: list[float], per_day: int
) -> None:
    """Even a budget below one check per max_interval per item gets a plan (at the
    bounds: the list's budget then stops the checks it cannot pay)."""
    plan = list_plan(rates, BOUNDS, Target(checks_per_day=per_day))
    for r in rates:
        assert BOUNDS.min_interval <= interval(r, plan) <= BOUNDS.max_interval
    tau, _ = next_due(0.0, None, plan)
    assert BOUNDS.min_interval <= tau <= BOUNDS.max_interval
    assert plan.checks_per_day <= max(per_day, len(rates) * DAY / BOUNDS.max_interval) * 1.001


def test_expected_changes_grow_with_the_rate_and_the_wait() -> None:
    busy = observe(None, HOUR, changed=True)
    assert expected_changes(busy, 0) == 0
    assert 0 < expected_changes(PRIOR, HOUR) < expected_changes(busy, HOUR) < 1
    assert expected_changes(PRIOR, HOUR) < expected_changes(PRIOR, DAY)


def test_the_remaining_charges_go_where_changes_are_expected() -> None:
    busy = quiet = None
    for _ in range(10):
        busy = observe(busy, HOUR, changed=True)
        quiet = observe(quiet, DAY, changed=False)
    candidates = [
        Candidate("quiet-long-ago", quiet, DAY),
        Candidate("quiet-just-now", quiet, 600.0),
        Candidate("busy", busy, HOUR),
        Candidate("new", None, math.inf),
    ]
    checked, left = rank(candidates, 2)
    assert checked == ["new", "busy"]  # a baseline first, then the likeliest change
    assert left == ["quiet-long-ago", "quiet-just-now"]
    assert rank(candidates, 0) == ([], rank(candidates, 4)[0])
    assert rank(candidates, 9)[1] == []
