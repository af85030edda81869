"""Tracked state and change points (SPEC §6.1): what is stored, and what counts as a change.

The masked current price is unknown: a masked observation never changes the price, the
last shown price is carried through it, and a mask flip alone starts a change point
(the gap a chart draws) without a field change (no event).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jditem.protocol import monitoring as wire
from jditem.protocol.product import Product
from jditem.server.collectors.drift import drifted_payload, state_at
from jditem.server.collectors.driftstate import TRACKED_FIELDS as DRIFT_FIELDS
from jditem.server.monitor.tracked import (
    ChangePoint,
    FieldChange,
    TrackedState,
    carry,
    decode,
    diff,
    observe,
    state_of,
    tracked_state,
    tracked_state_json,
)

FIXTURE = Path(__file__).parents[2] / "fixtures" / "jd-detail-v1-abridged.json"
T0 = datetime(2026, 2, 1, tzinfo=UTC)
PROPERTY = settings(derandomize=True, max_examples=300, deadline=None)


def state(**changes: Any) -> TrackedState:
    base = TrackedState(
        price_current=Decimal("699.00"),
        price_original=Decimal("799.00"),
        price_promo=None,
        price_masked=False,
        in_stock=True,
        stock_state=33,
        on_sale=True,
        promotion_texts=("满199减20",),
        shop_id="1000",
        title="黛珂 水乳套装",
    )
    return replace(base, **changes)


def masked(**changes: Any) -> TrackedState:
    return state(price_current=None, price_masked=True, **changes)


prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2)


@st.composite
def states(draw: st.DrawFn) -> TrackedState:
    hidden = draw(st.booleans())
    return TrackedState(
        price_current=None if hidden else draw(st.none() | prices),
        price_original=draw(st.none() | prices),
        price_promo=draw(st.none() | prices),
        price_masked=hidden,
        in_stock=draw(st.none() | st.booleans()),
        stock_state=draw(st.none() | st.sampled_from([33, 34, 36, 40])),
        on_sale=draw(st.none() | st.booleans()),
        promotion_texts=tuple(sorted(draw(st.sets(st.sampled_from(["满99减10", "赠品", "8折"]))))),
        shop_id=draw(st.none() | st.sampled_from(["1000", "2000"])),
        title=draw(st.sampled_from(["A", "【618】A", 'say "hi" \\ 测试'])),
    )


# --- reading a payload ---------------------------------------------------------------------


def test_the_fields_are_spec_6_1_and_the_drifts() -> None:
    assert set(wire.TRACKED_FIELDS) == set(DRIFT_FIELDS)
    assert {f for f in TrackedState.__dataclass_fields__ if f in wire.TRACKED_FIELDS} == set(
        wire.TRACKED_FIELDS
    )


def test_a_drifted_payload_shows_the_drifted_state() -> None:
    for n in range(40):
        item_id, at = str(100_000_000_000 + n * 7919), T0 + timedelta(hours=17 * n)
        seen, truth = tracked_state(drifted_payload(item_id, at)), state_at(item_id, at).tracked()
        assert {name: seen.get(name) for name in wire.TRACKED_FIELDS} == {
            **truth,
            "promotion_texts": tuple(truth["promotion_texts"]),
        }


def test_the_real_jd_fixture_reads_as_a_masked_state() -> None:
    payload = json.loads(FIXTURE.read_text(encoding="utf-8"))
    seen = tracked_state(payload)
    product = Product.from_payload(payload)
    assert seen == state_of(product)
    assert seen.title == product.title
    assert seen.title
    assert seen.price_masked is product.price.masked
    assert seen.price_current == product.price.current
    assert seen.known_price == seen.price_current


def test_promotion_texts_are_deduplicated_sorted_and_textless_ones_left_out() -> None:
    payload = drifted_payload("100012043978", T0)
    payload["promov2"] = [
        {"pis": [{"content": "满199减20"}, {"content": "<b>赠品</b>"}, {"content": "满199减20"}]},
        {"pis": [{"customtag": '{"p": "599.00"}'}]},
    ]
    assert tracked_state(payload).promotion_texts == ("满199减20", "赠品")


def test_a_payload_that_is_no_object_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="expected the JSON object"):
        tracked_state(["not", "a", "payload"])


def test_the_serialized_payload_is_read_once() -> None:
    body = json.dumps(drifted_payload("100012043978", T0)).encode()
    first = tracked_state_json(body)
    assert tracked_state_json(body) is first
    assert first == tracked_state(json.loads(body))


# --- storage -------------------------------------------------------------------------------


@PROPERTY
@given(states())
def test_encode_and_decode_round_trip(s: TrackedState) -> None:
    back = decode(s.encode())
    assert back == s
    assert back.known_price == s.known_price
    assert back.digest == s.digest
    assert back.encode() == s.encode()


@PROPERTY
@given(states(), states())
def test_equal_states_and_only_those_have_equal_digests(a: TrackedState, b: TrackedState) -> None:
    assert (a == b) == (a.digest == b.digest) == (a.observed == b.observed)


def test_the_encoding_is_canonical_and_compact() -> None:
    a = state(price_current=Decimal("699"), price_original=Decimal("799.000"))
    b = state(price_current=Decimal("699.00"), price_original=Decimal("799.0"))
    assert a == b
    assert a.encode() == b.encode()
    assert a.digest == b.digest
    assert len(a.digest) == 32
    assert a.encode() == (
        '[1,"699.00","799.00",null,false,true,33,true,'
        '["满199减20"],"1000","黛珂 水乳套装","699.00"]'
    )
    assert state(price_current=Decimal("0.125")).encode().startswith('[1,"0.125"')
    assert state(price_current=Decimal("1E+3")).encode().startswith('[1,"1000.00"')


def test_the_carried_price_is_stored_but_not_part_of_the_state() -> None:
    hidden = carry(state(), masked())
    assert hidden.known_price == Decimal("699.00")
    assert hidden == masked()
    assert hidden.digest == masked().digest
    assert decode(hidden.encode()).known_price == Decimal("699.00")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ("{}", "JSON array starting with version 1"),
        ("[2]", "JSON array starting with version 1"),
        ("[1, null]", "has 2 elements, expected 12"),
        ('[1,null,null,null,"yes",null,null,null,[],null,"t",null]', "price_masked"),
        ('[1,null,null,null,false,null,33.5,null,[],null,"t",null]', "stock_state"),
        ('[1,null,null,null,false,null,null,null,[1],null,"t",null]', "promotion_texts"),
        ('[1,"abc",null,null,false,null,null,null,[],null,"t",null]', "price_current is not"),
        ('[1,5,null,null,false,null,null,null,[],null,"t",null]', "price_current must be"),
    ],
)
def test_a_damaged_stored_state_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode(text)


def test_a_price_must_be_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        state(price_original=Decimal("NaN"))


# --- changes -------------------------------------------------------------------------------


def test_the_first_observation_is_a_baseline() -> None:
    step = observe(None, state())
    assert step.baseline
    assert step.new_point
    assert step.changes == ()
    assert step.state == state()


def test_the_same_state_only_confirms_the_point() -> None:
    current = carry(state(), masked())
    step = observe(current, masked())
    assert not step.new_point
    assert not step.baseline
    assert step.changes == ()
    assert step.state is current  # the carried price stays


def test_field_changes_come_in_tracked_field_order() -> None:
    new = state(
        title="新标题",
        price_current=Decimal("649.00"),
        in_stock=False,
        stock_state=34,
        promotion_texts=(),
    )
    assert diff(state(), new) == (
        FieldChange("price_current", Decimal("699.00"), Decimal("649.00")),
        FieldChange("in_stock", True, False),
        FieldChange("stock_state", 33, 34),
        FieldChange("promotion_texts", ("满199减20",), ()),
        FieldChange("title", "黛珂 水乳套装", "新标题"),
    )


def test_masking_alone_starts_a_point_but_changes_nothing() -> None:
    hide = observe(state(), masked())
    assert hide.new_point
    assert hide.changes == ()
    assert hide.state.known_price == Decimal("699.00")
    show = observe(hide.state, state())
    assert show.new_point
    assert show.changes == ()


def test_the_price_shown_after_a_gap_is_compared_with_the_last_one_shown() -> None:
    history = [
        state(),
        masked(),
        masked(price_promo=Decimal("600.00")),
        state(price_current=Decimal("649.00")),
    ]
    current, changes = None, []
    for seen in history:
        step = observe(current, seen)
        current = step.state
        changes.append(step.changes)
    assert changes == [
        (),
        (),
        (FieldChange("price_promo", None, Decimal("600.00")),),
        (
            FieldChange("price_current", Decimal("699.00"), Decimal("649.00")),
            FieldChange("price_promo", Decimal("600.00"), None),
        ),
    ]


def test_a_price_first_shown_after_masked_observations_is_no_change() -> None:
    step = observe(masked(), state())
    assert step.new_point
    assert step.changes == ()
    assert step.state.known_price == Decimal("699.00")


@PROPERTY
@given(st.lists(states(), min_size=1, max_size=12))
def test_folding_observations_keeps_the_history_rules(seen: list[TrackedState]) -> None:
    """For any sequence: masked never changes the price, the carried price is the last shown,
    a point is new exactly when the observed state differs, and every change is real."""
    current: TrackedState | None = None
    last_shown = None
    for obs in seen:
        step = observe(current, obs)
        fields = [c.field for c in step.changes]
        assert "price_masked" not in fields
        if obs.price_current is None:
            assert "price_current" not in fields
        if obs.price_current is not None:
            last_shown = obs.price_current
        assert step.state.known_price == last_shown
        assert step.state == obs
        assert step.new_point == (current is None or current != obs)
        assert not step.changes or step.new_point
        for change in step.changes:
            assert change.before != change.after
            assert change.after == obs.get(change.field)
        current = step.state


def test_a_change_point_shows_on_the_wire_and_round_trips() -> None:
    point = ChangePoint(T0, T0 + timedelta(hours=5), carry(state(), masked()))
    body = point.to_wire().to_wire()
    assert body["validFrom"] == "2026-02-01T00:00:00Z"
    assert body["priceCurrent"] is None
    assert body["priceMasked"] is True
    assert body["priceOriginal"] == "799.00"
    assert body["promotionTexts"] == ["满199减20"]
    back = wire.ChangePoint.model_validate(body)
    assert back.known_price is None
    assert back == point.to_wire()
    change = FieldChange("price_current", Decimal("699.00"), Decimal("649.5")).to_wire()
    assert change.to_wire() == {"field": "price_current", "before": "699.00", "after": "649.5"}
    texts = FieldChange("promotion_texts", ("a",), ()).to_wire()
    assert texts.to_wire() == {"field": "promotion_texts", "before": ["a"], "after": []}
