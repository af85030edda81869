"""Event kinds (SPEC §6.3): what a change means, and the event as the feed shows it."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jditem.protocol import monitoring as wire
from jditem.protocol.monitoring import ChangeKind as K
from jditem.server.monitor.kinds import (
    WINDOWS_DAYS,
    Classification,
    classify,
    lowest_known,
    new_event_id,
)
from jditem.server.monitor.tracked import ChangePoint, TrackedState, carry, observe

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
NO_LOWS: dict[int, Decimal | None] = dict.fromkeys(WINDOWS_DAYS)


def state(price: str | None = "100.00", **changes: Any) -> TrackedState:
    base = TrackedState(
        price_current=None if price is None else Decimal(price),
        price_original=Decimal("120.00"),
        price_promo=None,
        price_masked=price is None,
        in_stock=True,
        stock_state=33,
        on_sale=True,
        promotion_texts=(),
        shop_id="1",
        title="Item",
    )
    return replace(base, **changes)


def kinds(prev: TrackedState | None, new: TrackedState, **lows: Any) -> tuple[K, ...]:
    return classify(prev, carry(prev, new), {int(k[1:]): v for k, v in lows.items()}).kinds


def test_the_first_observation_is_a_baseline() -> None:
    result = classify(None, state(), NO_LOWS)
    assert result == Classification()
    assert not result.is_event


def test_no_change_is_no_event() -> None:
    assert not classify(state(), state(), NO_LOWS).is_event


@pytest.mark.parametrize(
    ("prev", "new", "expected"),
    [
        (state("100.00"), state("90.00"), (K.PRICE_DROP,)),
        (state("100.00"), state("110.00"), (K.PRICE_RISE,)),
        (state(in_stock=True), state(in_stock=False, stock_state=34), (K.OUT_OF_STOCK,)),
        (state(in_stock=False, stock_state=34), state(), (K.BACK_IN_STOCK,)),
        (state(in_stock=None, stock_state=None), state(in_stock=False), ()),
        (state(), state(promotion_texts=("满99减10",)), (K.PROMOTION_STARTED,)),
        (state(promotion_texts=("满99减10",)), state(), (K.PROMOTION_ENDED,)),
        (
            state(promotion_texts=("a",)),
            state(promotion_texts=("b",)),
            (K.PROMOTION_STARTED, K.PROMOTION_ENDED),
        ),
        (state(), state(title="【618】Item"), (K.TITLE_CHANGED,)),
        (state(), state(price_original=Decimal("130.00")), ()),
        (state(), state(price_promo=Decimal("95.00")), ()),
        (state(in_stock=False, stock_state=34), state(in_stock=False, stock_state=36), ()),
        (state(), state(shop_id="2", on_sale=False), ()),
        (
            state("100.00"),
            state("80.00", in_stock=False, title="X"),
            (K.PRICE_DROP, K.OUT_OF_STOCK, K.TITLE_CHANGED),
        ),
    ],
)
def test_each_change_has_its_kinds(
    prev: TrackedState, new: TrackedState, expected: tuple[K, ...]
) -> None:
    result = classify(prev, new, NO_LOWS)
    assert result.is_event
    assert result.kinds == expected


def test_masked_and_unmasked_never_yield_price_kinds() -> None:
    assert kinds(state("100.00"), state(None)) == ()
    assert not classify(state("100.00"), carry(state("100.00"), state(None)), NO_LOWS).is_event
    hidden = carry(state("100.00"), state(None))
    shown = classify(hidden, state("80.00"), {30: Decimal("100.00")})
    assert [c.field for c in shown.changes] == ["price_current"]  # recorded, before = 100.00
    assert shown.changes[0].before == Decimal("100.00")
    assert shown.kinds == ()  # but no drop "now": it moved at an unknown time in the gap
    assert shown.price_before is None
    assert shown.price_after is None


def test_a_drop_below_a_windows_low_is_a_new_low_for_that_window() -> None:
    lows = {30: Decimal("95.00"), 90: Decimal("85.00"), 180: Decimal("70.00")}
    result = classify(state("100.00"), state("90.00"), lows)
    assert result.kinds == (K.PRICE_DROP, K.NEW_LOW)
    assert result.new_low_days == (30,)
    assert classify(state("100.00"), state("85.00"), lows).new_low_days == (30,)  # equal: no
    assert classify(state("100.00"), state("60.00"), lows).new_low_days == (30, 90, 180)
    assert classify(state("100.00"), state("60.00"), NO_LOWS).kinds == (K.PRICE_DROP,)
    assert classify(state("100.00"), state("60.00")).new_low_days == ()
    assert classify(state("100.00"), state("120.00"), lows).new_low_days == ()


def test_the_price_pair_is_kept_for_the_rules() -> None:
    result = classify(state("100.00"), state("89.99"), NO_LOWS)
    assert (result.price_before, result.price_after) == (Decimal("100.00"), Decimal("89.99"))


def test_lowest_known_reads_change_points_as_steps() -> None:
    def point(days: float, price: str | None) -> ChangePoint:
        at = T0 + days * DAY
        return ChangePoint(at, at, state(price))

    points = [
        point(0, "50.00"),  # holds until day 10: 170 days before day 180
        point(10, "80.00"),
        point(100, None),  # masked: counts for nothing
        point(120, "99.00"),
        point(150, "90.00"),
        point(179, "95.00"),
        point(181, "10.00"),  # after the observation: ignored
    ]
    at = T0 + 180 * DAY
    assert lowest_known(points, at) == {
        30: Decimal("90.00"),
        90: Decimal("80.00"),  # day 10-100 overlaps the window from day 90
        180: Decimal("50.00"),
    }
    assert lowest_known(points[:1], T0 + 400 * DAY) == dict.fromkeys(WINDOWS_DAYS, Decimal("50.00"))
    assert lowest_known(points, T0 + 500 * DAY, days=[7]) == {7: Decimal("10.00")}
    assert lowest_known([point(0, None)], at) == NO_LOWS
    assert lowest_known([], at) == NO_LOWS


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(1, 50)), min_size=2, max_size=30))
def test_a_price_sequence_gives_kinds_that_agree_with_it(series: list[int | None]) -> None:
    """Fold observations one a day; a new low for a window is exactly a shown price below
    every price shown in that window, right after a shown price."""
    points: list[ChangePoint] = []
    current: TrackedState | None = None
    for day, value in enumerate(series):
        at = T0 + day * 40 * DAY  # 40 days apart: windows of 30/90/180 see 1/3/5 points
        seen = state(None if value is None else f"{value}.00")
        step = observe(current, seen)
        result = classify(current, step.state, lowest_known(points, at))
        prev_shown = current.price_current if current is not None else None
        if prev_shown is None or value is None or Decimal(value) == prev_shown:
            assert not {K.PRICE_DROP, K.PRICE_RISE, K.NEW_LOW} & set(result.kinds)
        else:
            dropped = Decimal(value) < prev_shown
            assert (K.PRICE_DROP in result.kinds) == dropped
            assert (K.PRICE_RISE in result.kinds) == (not dropped)
            for days in WINDOWS_DAYS:
                shown = [
                    p.state.price_current
                    for i, p in enumerate(points)
                    if p.state.price_current is not None
                    and (points[i + 1].valid_from if i + 1 < len(points) else at) > at - days * DAY
                ]
                is_low = dropped and bool(shown) and Decimal(value) < min(shown)
                assert (days in result.new_low_days) == is_low
        if step.new_point:
            points.append(ChangePoint(at, at, step.state))
        current = step.state


def test_an_event_shows_on_the_wire() -> None:
    result = classify(state("100.00"), state("90.00", promotion_texts=("满99减10",)), NO_LOWS)
    event = result.to_wire("evt_1", "100012043978", T0, lists=["7", "9"], title="Item")
    body = event.to_wire()
    assert body == {
        "id": "evt_1",
        "itemId": "100012043978",
        "lists": ["7", "9"],
        "observedAt": "2026-03-01T00:00:00Z",
        "changes": [
            {"field": "price_current", "before": "100.00", "after": "90.00"},
            {"field": "promotion_texts", "before": [], "after": ["满99减10"]},
        ],
        "kinds": ["price_drop", "promotion_started"],
        "newLowDays": [],
        "title": "Item",
        "ruleMatches": [],
    }
    assert wire.ChangeEvent.model_validate(body) == event
    with pytest.raises(ValueError, match="not an event"):
        Classification().to_wire("evt_2", "1", T0)


def test_event_ids_are_ulids_that_sort_by_time() -> None:
    rng = random.Random(7)
    ids = [new_event_id(1_760_000_000_000 + n, randbits=rng.getrandbits) for n in range(50)]
    assert all(i.startswith("evt_") and len(i) == 30 for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == 50
    assert new_event_id(0, randbits=lambda _: 0) == "evt_" + "0" * 26
