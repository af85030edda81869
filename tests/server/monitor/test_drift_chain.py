"""The whole pure chain on the moving sandbox: payload → tracked state → change points → kinds.

30 simulated days around 618 (sale days move more), fixed ids and seed 0. The drift
knows the truth (:func:`~jditem.server.collectors.drift.state_at`,
:func:`~jditem.server.collectors.drift.change_times`); the chain sees only payloads, the
way the server will. Checked: a new change point at every change of the tracked state
and only there; field changes exactly where ``change_times`` has them once mask flips are
left out (SPEC §6.1: a masked price is unknown, never a change) — plus, where the price
shows again after a masked spell, a ``price_current`` change exactly when it differs from
the last one shown, with no price kind; and kinds that agree with the drift's states.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from jditem.protocol.monitoring import ChangeKind as K
from jditem.server.collectors.drift import (
    TRACKED_FIELDS,
    DriftState,
    change_times,
    drifted_payload,
    mean_interval,
    state_at,
)
from jditem.server.monitor.kinds import classify, lowest_known
from jditem.server.monitor.tracked import ChangePoint, TrackedState, observe, tracked_state

START = datetime(2026, 6, 1, tzinfo=UTC)
END = START + timedelta(days=30)
#: Drift fields whose changes are changes (the mask and the price it hides are apart).
PLAIN = tuple(f for f in TRACKED_FIELDS if f not in ("price_masked", "price_current"))
IDS = [str(100_000_000_000 + n * 7919) for n in range(400)]
#: 25 items from every ~20 min to every 4 days (about 2,000 changes in the 30 days).
MOVING = sorted((i for i in IDS if 0 < mean_interval(i) <= 4 * 86_400), key=mean_interval)[12::9]


def expected_fields(before: DriftState, after: DriftState, last_shown: Decimal | None) -> set[str]:
    fields = {f for f in PLAIN if getattr(before, f) != getattr(after, f)}
    shown = after.price_current
    if shown is not None and last_shown is not None and shown != last_shown:
        fields.add("price_current")
    return fields


def expected_kinds(before: DriftState, after: DriftState) -> set[K]:
    kinds = set()
    if before.price_current is not None and after.price_current is not None:
        if after.price_current < before.price_current:
            kinds.add(K.PRICE_DROP)
        elif after.price_current > before.price_current:
            kinds.add(K.PRICE_RISE)
    if before.in_stock and not after.in_stock:
        kinds.add(K.OUT_OF_STOCK)
    if not before.in_stock and after.in_stock:
        kinds.add(K.BACK_IN_STOCK)
    if set(after.promotion_texts) - set(before.promotion_texts):
        kinds.add(K.PROMOTION_STARTED)
    if set(before.promotion_texts) - set(after.promotion_texts):
        kinds.add(K.PROMOTION_ENDED)
    if before.title != after.title:
        kinds.add(K.TITLE_CHANGED)
    return kinds


def run_chain(item_id: str, times: list[datetime], seen: Counter[str]) -> set[datetime]:
    """Observe ``item_id`` at ``times`` through payloads and check each step.

    Returns the instants of the events with a field change other than the current price.
    """
    points: list[ChangePoint] = []
    current: TrackedState | None = None
    truth: DriftState | None = None
    last_shown: Decimal | None = None
    events: set[datetime] = set()
    for at in times:
        state = state_at(item_id, at)
        step = observe(current, tracked_state(drifted_payload(item_id, at)))
        result = classify(current, step.state, lowest_known(points, at))
        assert step.new_point == (truth is None or state != truth), (item_id, at)
        assert result.changes == step.changes
        if truth is None:
            assert step.baseline
            assert not result.is_event
        else:
            fields = {c.field for c in step.changes}
            assert fields == expected_fields(truth, state, last_shown), (item_id, at)
            kinds = set(result.kinds) - {K.NEW_LOW}
            assert kinds == (expected_kinds(truth, state) if fields else set()), (item_id, at)
            if K.NEW_LOW in result.kinds:
                lows = [p.state.price_current for p in points if p.state.price_current is not None]
                assert state.price_current is not None
                assert state.price_current < min(lows)
            seen.update(result.kinds)
            if truth.price_current is None and state.price_current is not None:
                revealed = "price_current" in fields
                seen["revealed a new price" if revealed else "revealed the same price"] += 1
            if fields - {"price_current"}:
                events.add(at)
        if step.new_point:
            points.append(ChangePoint(at, at, step.state))
        else:
            points[-1] = ChangePoint(points[-1].valid_from, at, points[-1].state)
        current, truth = step.state, state
        last_shown = state.price_current if state.price_current is not None else last_shown
        assert current.known_price == last_shown
    return events


def test_change_points_and_events_at_every_change_instant() -> None:
    """Observed exactly at each instant the drift changes: every one is a new point, and
    the events are exactly change_times without the mask flips (and the revealed prices)."""
    assert len(MOVING) == 25
    seen: Counter[str] = Counter()
    flips_only = 0
    for item_id in MOVING:
        every = change_times(item_id, START, END)
        plain = set(change_times(item_id, START, END, fields=PLAIN))
        assert run_chain(item_id, [START, *every], seen) == plain, item_id
        flips_only += len(set(every) - plain)
    assert flips_only > 0  # masking spells happened and were not events by themselves
    assert set(K) <= set(seen), seen  # every kind occurs on realistic data
    assert seen["revealed a new price"] > 0
    assert seen["revealed the same price"] > 0


@pytest.mark.parametrize("hours", [1, 7])
def test_checks_on_a_schedule_see_the_net_change_between_checks(hours: int) -> None:
    """Checked every few hours (changes between checks fold into one): each event holds
    exactly the fields that differ between the two checked states."""
    seen: Counter[str] = Counter()
    events = 0
    for item_id in MOVING[::3]:
        times = [START + timedelta(hours=hours * n) for n in range(30 * 24 // hours + 1)]
        events += len(run_chain(item_id, times, seen))
    assert events > 50
    assert {K.PRICE_DROP, K.PROMOTION_STARTED, K.OUT_OF_STOCK} <= set(seen)
