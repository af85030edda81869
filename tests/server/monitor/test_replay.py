"""The replay harness: what it counts, on worlds small enough to count by hand."""

from __future__ import annotations

import importlib.util
import math
from datetime import UTC, datetime

import pytest

from jditem.server.monitor.policy import DAY, Bounds, Target
from jditem.server.monitor.replay import (
    DRIFT_MODULE,
    HOUR,
    RATE_CLASSES,
    Adaptive,
    FixedInterval,
    ItemHistory,
    Metrics,
    World,
    drift_world,
    poisson_world,
    replay,
)


def one_item(times: list[float], states: list[int], end: float = 100.0) -> World:
    return World(0.0, end, (ItemHistory(0, tuple(times), tuple(states)),))


def test_a_change_is_detected_by_the_next_check_with_its_lag() -> None:
    # one item, checked at 5, 15, 25, ... (fixed 10 s, one item: first check at 5)
    m = replay(one_item([12.0, 31.0], [1, 2]), FixedInterval(10.0))
    assert (m.detected, m.missed, m.superseded) == (2, 0, 0)
    assert m.lag_seconds == pytest.approx((15 - 12) + (35 - 31))
    assert m.checks == 10
    assert m.empty_checks == 8
    assert m.charges_per_detected == 5.0


def test_a_change_reverted_before_any_check_saw_it_is_missed() -> None:
    # 1 then back to 0 inside the gap (5, 15]: both invisible; the move at 21 is seen at 25
    m = replay(one_item([7.0, 9.0, 21.0], [1, 0, 2]), FixedInterval(10.0))
    assert (m.detected, m.missed) == (1, 2)
    assert m.lag_seconds == pytest.approx(4.0)


def test_a_change_replaced_before_a_check_is_detected_but_superseded() -> None:
    # 0 -> 1 -> 2 inside one gap: the check sees 2, so both count with their own lags
    m = replay(one_item([6.0, 8.0], [1, 2]), FixedInterval(10.0))
    assert (m.detected, m.superseded, m.missed) == (2, 1, 0)
    assert m.lag_seconds == pytest.approx((15 - 6) + (15 - 8))


def test_loops_inside_a_gap_are_erased_whatever_their_shape() -> None:
    # 0 -> 1 -> 2 -> 1 -> 3 -> 0 -> 4 in one gap: only the move to 4 leaves a trace
    m = replay(one_item([6.0, 7.0, 8.0, 9.0, 10.0, 11.0], [1, 2, 1, 3, 0, 4]), FixedInterval(10.0))
    assert (m.detected, m.missed, m.superseded) == (1, 5, 0)
    # and a revert of a state a check did see is a change like any other
    m = replay(one_item([6.0, 16.0, 18.0], [1, 0, 2]), FixedInterval(10.0))
    assert (m.detected, m.missed, m.superseded) == (3, 0, 1)


def test_changes_near_the_end_are_closed_out_by_an_uncharged_check() -> None:
    m = replay(one_item([96.0], [1]), FixedInterval(10.0))
    assert m.checks == 10  # 5, 15, ..., 95; the close-out at 105 costs nothing
    assert m.detected == 1
    assert m.lag_seconds == pytest.approx(9.0)


def test_a_daily_cap_holds_the_checks_of_a_day_back_to_the_next() -> None:
    world = World(0.0, 3 * DAY, tuple(ItemHistory(0, (), ()) for _ in range(10)))
    capped = replay(world, FixedInterval(HOUR), daily_cap=100)
    assert capped.busiest_day == 100
    assert capped.checks == 300
    assert replay(world, FixedInterval(HOUR)).busiest_day == 240


def test_a_scheduler_must_plan_forward() -> None:
    class Stuck(FixedInterval):
        def checked(self, item: int, now: float, interval: float, changed: bool) -> float:
            return now

    with pytest.raises(ValueError, match="not after"):
        replay(one_item([], []), Stuck(10.0))


def test_worlds_refuse_histories_out_of_order_or_outside() -> None:
    with pytest.raises(ValueError, match="ordered, inside"):
        one_item([5.0, 3.0], [1, 2])
    with pytest.raises(ValueError, match="ordered, inside"):
        one_item([150.0], [1])
    with pytest.raises(ValueError, match="start < end"):
        World(1.0, 1.0, ())


def test_the_poisson_world_is_the_one_described_and_the_same_for_a_seed() -> None:
    world = poisson_world(1000, 30, seed=3)
    assert world == poisson_world(1000, 30, seed=3)
    assert world != poisson_world(1000, 30, seed=4)
    rates = [item.rate for item in world.items]
    assert len(rates) == 1000
    for share, span in RATE_CLASSES:
        if span is None:
            inside = sum(r == 0 for r in rates)
        else:
            inside = sum(r is not None and 1 / span[1] <= r <= 1 / span[0] for r in rates)
        assert inside == round(share * 1000)
    # a change undoes the one before about a quarter of the times it can
    states = [(item.initial, *item.states) for item in world.items]
    reverts = sum(s[k] == s[k - 2] for s in states for k in range(2, len(s)))
    assert 0.12 < reverts / world.changes < 0.25


def test_adaptive_stays_within_bounds_and_budget_in_a_replay() -> None:
    world = poisson_world(200, 10, seed=1)
    bounds = Bounds(300.0, 7 * DAY)

    waits: list[float] = []

    class Watched(Adaptive):
        def checked(self, item: int, now: float, interval: float, changed: bool) -> float:
            due = super().checked(item, now, interval, changed)
            waits.append(due - now)
            return due

    scheduler = Watched(bounds, Target(checks_per_day=1000))
    m = replay(world, scheduler, daily_cap=1000)
    assert m.busiest_day <= 1000
    assert m.checks <= 10 * 1000
    ulp = 2 * math.ulp(world.end)
    assert all(300 - ulp <= w <= 7 * DAY + ulp for w in waits)
    # the interval each item is at now is the policy's, for the console's "current interval"
    assert all(300 <= scheduler.interval(i) <= 7 * DAY for i in range(200))


def test_metrics_with_nothing_detected() -> None:
    m = Metrics(0, 0, 0, 0, 0, 0.0, 0, 0)
    assert math.isnan(m.mean_lag)
    assert m.charges_per_detected == math.inf
    assert m.empty_share == 0.0


def test_drift_world_reads_change_times_and_states() -> None:
    """The adapter over the sandbox drift's interface, with that interface in miniature:
    a state that steps every 10 s (and one no-op "change" the state does not show)."""

    def state_at(item: str, t: float, seed: int) -> dict[str, object]:
        return {"price": int(t // 10) if item == "1" else 0, "seed": seed}

    def change_times(item: str, start: float, end: float, seed: int) -> list[object]:
        if item != "1":
            return [datetime.fromtimestamp(start + 5, UTC)]  # shows nothing
        return [float(t) for t in range(10, int(end) + 1, 10)]

    world = drift_world(["1", "2"], 0.0, 35.0, seed=7, change_times=change_times, state_at=state_at)
    assert world.items[0].times == (10.0, 20.0, 30.0)
    assert world.items[1].times == ()
    m = replay(world, FixedInterval(10.0))
    assert m.detected == 3


def test_drift_world_uses_the_sandbox_drift_only_where_it_exists() -> None:
    if importlib.util.find_spec(DRIFT_MODULE) is None:
        with pytest.raises(RuntimeError, match="does not have"):
            drift_world(["100012043978"], 0.0, DAY)
        return
    start = datetime(2025, 3, 3, tzinfo=UTC).timestamp()
    world = drift_world([str(100012043978 + i) for i in range(20)], start, start + 7 * DAY)
    assert world.changes > 0
    assert replay(world, FixedInterval(6 * HOUR)).detected > 0


def test_known_rates_stand_in_for_the_estimates() -> None:
    world = poisson_world(100, 5, seed=2)
    truth = [item.rate or 0.0 for item in world.items]
    bounds = Bounds(300.0, 7 * DAY)
    scheduler = Adaptive(bounds, Target(checks_per_day=800), known_rates=truth)
    replay(world, scheduler, daily_cap=800)
    assert scheduler.rates == truth  # never replaced by estimates
    fastest = max(range(100), key=truth.__getitem__)
    assert scheduler.interval(fastest) == min(scheduler.interval(i) for i in range(100))
    with pytest.raises(ValueError, match="has 100 rates for 3 items"):
        Adaptive(bounds, Target(checks_per_day=800), known_rates=truth).begin(3, 0.0)
