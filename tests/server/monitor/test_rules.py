"""A list's rules (SPEC §6.3): kinds, exact thresholds, and a re-arm cooldown per kind."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from jditem.protocol.monitoring import ChangeKind as K
from jditem.protocol.monitoring import WatchRules
from jditem.server.monitor.kinds import Classification
from jditem.server.monitor.rules import decide, meets_thresholds

T0 = datetime(2026, 3, 1, tzinfo=UTC)
PROPERTY = settings(derandomize=True, max_examples=300, deadline=None)


def drop(before: str, after: str, *more: K) -> Classification:
    low = Decimal(after) < Decimal(before)
    kinds = (K.PRICE_DROP if low else K.PRICE_RISE, *more)
    return Classification(
        changes=(),
        kinds=tuple(k for k in K if k in kinds),
        price_before=Decimal(before),
        price_after=Decimal(after),
    )


def test_only_the_lists_kinds_notify() -> None:
    rules = WatchRules(kinds=[K.OUT_OF_STOCK, K.PRICE_DROP])
    event = Classification(kinds=(K.OUT_OF_STOCK, K.TITLE_CHANGED))
    assert decide(rules, event, {}, T0) == (K.OUT_OF_STOCK,)
    assert decide(WatchRules(kinds=[]), event, {}, T0) == ()
    assert decide(WatchRules(), drop("10", "9", K.NEW_LOW), {}, T0) == (K.PRICE_DROP, K.NEW_LOW)


@pytest.mark.parametrize(
    ("rules", "before", "after", "notifies"),
    [
        (WatchRules(drop_percent=Decimal(10)), "100.00", "90.00", True),  # exactly 10 %
        (WatchRules(drop_percent=Decimal(10)), "100.00", "90.01", False),
        (WatchRules(drop_percent=Decimal("33.33")), "3.00", "2.0001", True),  # 33.33 % of 3
        (WatchRules(drop_percent=Decimal("33.34")), "3.00", "2.00", False),  # 33.333… %
        (WatchRules(drop_yuan=Decimal("0.10")), "0.30", "0.20", True),  # float: 0.09999…
        (WatchRules(drop_yuan=Decimal("0.10")), "0.30", "0.2001", False),
        (WatchRules(price_at_most=Decimal("89.99")), "100.00", "89.99", True),
        (WatchRules(price_at_most=Decimal("89.99")), "100.00", "89.991", False),
        (WatchRules(drop_yuan=Decimal(5), drop_percent=Decimal(50)), "100", "94", False),
        (WatchRules(drop_yuan=Decimal(5), drop_percent=Decimal(5)), "100", "95", True),
    ],
)
def test_thresholds_are_exact_at_the_boundary(
    rules: WatchRules, before: str, after: str, notifies: bool
) -> None:
    assert meets_thresholds(rules, drop(before, after)) is notifies
    assert (K.PRICE_DROP in decide(rules, drop(before, after), {}, T0)) is notifies


def test_thresholds_narrow_only_drops_and_new_lows() -> None:
    rules = WatchRules(drop_percent=Decimal(50))
    event = drop("100", "99", K.NEW_LOW, K.PROMOTION_STARTED)
    assert decide(rules, event, {}, T0) == (K.PROMOTION_STARTED,)
    assert decide(rules, drop("100", "200"), {}, T0) == (K.PRICE_RISE,)
    assert not meets_thresholds(rules, Classification(kinds=(K.PRICE_DROP,)))  # no prices


amounts = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10**9), places=4)


@PROPERTY
@given(amounts, st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99.99"), places=2))
def test_a_percent_threshold_is_met_from_exactly_its_boundary(
    before: Decimal, percent: Decimal
) -> None:
    boundary = before * (100 - percent) / 100  # exact: at most 6 decimals, < 20 digits
    assert boundary * 100 == before * (100 - percent)
    rules = WatchRules(drop_percent=percent)
    assert meets_thresholds(rules, drop(str(before), str(boundary)))
    above = boundary + Decimal("0.000001")
    assert not meets_thresholds(rules, drop(str(before), str(above)))
    assert meets_thresholds(rules, drop(str(before), str(boundary - Decimal("0.000001"))))


@PROPERTY
@given(amounts, amounts)
def test_a_yuan_threshold_is_met_at_exactly_that_drop(before: Decimal, threshold: Decimal) -> None:
    after = before - threshold
    if after <= 0:
        return
    rules = WatchRules(drop_yuan=threshold)
    assert meets_thresholds(rules, drop(str(before), str(after)))
    assert not meets_thresholds(rules, drop(str(before), str(after + Decimal("0.0001"))))


def test_a_kind_is_quiet_for_the_cooldown_then_re_arms() -> None:
    rules = WatchRules(cooldown_seconds=3600)
    event = drop("100", "90")
    last = {K.PRICE_DROP: T0}
    assert decide(rules, event, last, T0 + timedelta(seconds=3599)) == ()
    assert decide(rules, event, last, T0 + timedelta(seconds=3600)) == (K.PRICE_DROP,)
    assert decide(rules, drop("90", "100"), last, T0 + timedelta(seconds=1)) == (K.PRICE_RISE,)
    assert decide(WatchRules(cooldown_seconds=0), event, last, T0) == (K.PRICE_DROP,)


@PROPERTY
@given(
    st.integers(0, 86_400),
    st.lists(st.tuples(st.integers(1, 7200), st.booleans()), min_size=1, max_size=80),
)
def test_a_flapping_price_notifies_at_most_once_per_cooldown(
    cooldown: int, flaps: list[tuple[int, bool]]
) -> None:
    """Drops and rises at any spacing: per kind, notifications are ≥ cooldown apart, and
    each event that comes a cooldown or more after its kind's last notification notifies."""
    rules = WatchRules(cooldown_seconds=cooldown)
    last: dict[K, datetime] = {}
    sent: dict[K, list[datetime]] = {K.PRICE_DROP: [], K.PRICE_RISE: []}
    now, price = T0, 100
    for gap, down in flaps:
        now += timedelta(seconds=gap)
        new = price - 10 if down else price + 10
        event = drop(str(price), str(new))
        kind = event.kinds[0]
        armed = kind not in last or now - last[kind] >= timedelta(seconds=cooldown)
        notified = decide(rules, event, last, now)
        assert notified == ((kind,) if armed else ())
        for k in notified:
            last[k] = now
            sent[k].append(now)
        price = new
    for times in sent.values():
        assert all(b - a >= timedelta(seconds=cooldown) for a, b in itertools.pairwise(times))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("drop_percent", Decimal(0)),
        ("drop_percent", Decimal("100.01")),
        ("drop_yuan", Decimal(-1)),
        ("price_at_most", Decimal(0)),
        ("cooldown_seconds", -1),
        ("cooldown_seconds", 31 * 86_400),
        ("kinds", ["price_crash"]),
    ],
)
def test_rules_out_of_range_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        WatchRules.model_validate({field: value})
