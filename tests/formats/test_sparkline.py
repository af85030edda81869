"""The terminal sparkline of ``jditem history``: steps in time, gaps, Unicode or ASCII."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jditem.formats.sparkline import ASCII_LEVELS, GAP, UNICODE_LEVELS, Span, sparkline, steps
from jditem.protocol.monitoring import ChangePoint

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def point(hours: float, price: str | None, *, in_stock: bool | None = True) -> ChangePoint:
    at = T0 + hours * HOUR
    return ChangePoint(
        valid_from=at,
        last_confirmed_at=at,
        price_current=None if price is None else Decimal(price),
        price_masked=price is None,
        in_stock=in_stock,
        title="x",
    )


def test_steps_hold_each_state_until_the_next_point() -> None:
    points = [point(0, "10"), point(2, None, in_stock=False), point(3, "8")]
    assert steps(points, T0 + 5 * HOUR) == [
        Span(T0, T0 + 2 * HOUR, Decimal("10"), True, False),
        Span(T0 + 2 * HOUR, T0 + 3 * HOUR, None, False, True),
        Span(T0 + 3 * HOUR, T0 + 5 * HOUR, Decimal("8"), True, False),
    ]  # the points have no promo or list price
    assert steps(points, T0 + 2 * HOUR) == [Span(T0, T0 + 2 * HOUR, Decimal("10"), True, False)]
    assert [s.end for s in steps(points, T0 + 2.5 * HOUR)] == [T0 + 2 * HOUR, T0 + 2.5 * HOUR]
    assert steps([], T0) == []


def test_a_masked_point_shows_its_price_as_unknown() -> None:
    hidden = point(0, "10")
    hidden = hidden.model_copy(update={"price_masked": True})  # a server may send both
    assert steps([hidden], T0 + HOUR)[0].price is None


def test_points_out_of_order_are_refused() -> None:
    with pytest.raises(ValueError, match="oldest first"):
        steps([point(2, "1"), point(1, "2")], T0 + 3 * HOUR)


def test_a_drop_halfway_draws_high_then_low() -> None:
    line = sparkline([point(0, "100"), point(5, "50")], T0 + 10 * HOUR, width=10)
    assert line == "█" * 5 + "▁" * 5
    ascii_line = sparkline([point(0, "100"), point(5, "50")], T0 + 10 * HOUR, width=10, ascii=True)
    assert ascii_line == "#" * 5 + "_" * 5


def test_masked_periods_are_gaps() -> None:
    points = [point(0, "100"), point(4, None), point(6, "80")]
    assert sparkline(points, T0 + 10 * HOUR, width=10) == "████" + GAP * 2 + "▁" * 4


def test_a_dip_shorter_than_a_column_still_shows() -> None:
    points = [point(0, "100"), point(3.2, "60"), point(3.3, "100")]
    line = sparkline(points, T0 + 10 * HOUR, width=10)
    assert line == "███▁██████"


def test_levels_span_the_range_evenly() -> None:
    points = [point(h, str(10 + h)) for h in range(8)]
    assert sparkline(points, T0 + 8 * HOUR, width=8) == UNICODE_LEVELS
    assert sparkline(points, T0 + 8 * HOUR, width=8, ascii=True) == ASCII_LEVELS


def test_a_constant_price_draws_the_bottom_level() -> None:
    assert sparkline([point(0, "9.90")], T0 + HOUR, width=5) == "▁" * 5


def test_time_before_the_first_point_and_nothing_known_are_gaps() -> None:
    line = sparkline([point(5, "1")], T0 + 10 * HOUR, start=T0, width=10)
    assert line == GAP * 5 + "▁" * 5
    assert sparkline([point(0, None)], T0 + HOUR, width=3) == GAP * 3


def test_nothing_to_draw_is_an_empty_line() -> None:
    assert sparkline([], T0) == ""
    assert sparkline([point(0, "1")], T0) == ""  # no time after the point
    assert sparkline([point(0, "1")], T0 + HOUR, start=T0 + 2 * HOUR) == ""
    with pytest.raises(ValueError, match="width of at least 1"):
        sparkline([point(0, "1")], T0 + HOUR, width=0)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 500), st.one_of(st.none(), st.integers(1, 10_000))),
        min_size=1,
        max_size=40,
    ),
    st.integers(1, 120),
    st.booleans(),
)
def test_any_history_gives_a_line_of_its_width_with_its_extremes(
    moves: list[tuple[int, int | None]], width: int, plain: bool
) -> None:
    points, hours, longest_top = [], 0, 0
    top = max((c for _, c in moves if c is not None), default=None)
    for gap, cents in moves:
        points.append(point(hours, None if cents is None else str(Decimal(cents) / 100)))
        hours += gap
        if cents == top:
            longest_top = max(longest_top, gap)
    line = sparkline(points, T0 + hours * HOUR, width=width, ascii=plain)
    levels = ASCII_LEVELS if plain else UNICODE_LEVELS
    assert len(line) == width
    assert set(line) <= set(levels) | {GAP}
    if plain:
        assert line.isascii()
    shown = {c for c in moves if c[1] is not None}
    if not shown:
        assert line == GAP * width
    else:
        assert levels[0] in line  # every column over the lowest price draws the lowest level
        if len({c for _, c in shown}) > 1 and longest_top >= 2 * hours / width:
            assert levels[-1] in line  # the highest held a whole column


def test_another_series_can_be_drawn() -> None:
    points = [
        ChangePoint(
            valid_from=T0 + h * HOUR,
            last_confirmed_at=T0,
            price_masked=True,
            price_promo=None if promo is None else Decimal(promo),
            price_original=Decimal(9),
        )
        for h, promo in ((0, "5"), (2, None), (3, "4"))
    ]
    end = T0 + 4 * HOUR
    assert sparkline(points, end, width=4) == GAP * 4
    assert sparkline(points, end, width=4, series="promo") == "██" + GAP + "▁"
    assert sparkline(points, end, width=4, series="original") == "▁▁▁▁"
