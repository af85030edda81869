"""Monitoring wire models (SPEC §6): camelCase JSON, money as exact strings, tolerant reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from jditem.protocol.monitoring import (
    ChangeEvent,
    ChangeKind,
    ChangePoint,
    ChangesPage,
    ItemHistory,
    PausedReason,
    WatchList,
    WatchListStatus,
    WatchRules,
    WatchSchedule,
)

T0 = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)

WATCH_LIST = {
    "id": "wl_1",
    "name": "competitors",
    "token": "monitor",
    "schedule": {"intervalSeconds": 900},
    "dailyBudget": "5.00",
    "rules": {"kinds": ["price_drop", "new_low"], "dropPercent": "5", "cooldownSeconds": 3600},
    "createdAt": "2026-03-01T08:30:00+08:00",
    "status": {
        "paused": True,
        "pausedReason": "list_budget",
        "spentToday": "5.0000",
        "nextCheckAt": "2026-03-02T00:00:00+08:00",
        "lastChangeAt": None,
        "items": 120,
        "itemsDue": 3,
        "checksToday": 500,
        "changesToday": 7,
    },
}


def test_a_watch_list_reads_from_camel_case_json_and_writes_it_back() -> None:
    wl = WatchList.model_validate(WATCH_LIST)
    assert wl.daily_budget == Decimal("5.00")
    assert wl.schedule.mode == "fixed"
    assert wl.rules.kinds == [ChangeKind.PRICE_DROP, ChangeKind.NEW_LOW]
    assert wl.status.paused_reason is PausedReason.LIST_BUDGET
    body = wl.to_wire()
    assert body["dailyBudget"] == "5.00"
    assert body["status"]["spentToday"] == "5.0000"
    assert body["schedule"] == {
        "intervalSeconds": 900,
        "minIntervalSeconds": None,
        "maxIntervalSeconds": None,
        "withinSeconds": None,
        "mode": "fixed",
    }
    assert WatchList.model_validate(body) == wl
    assert WatchList.model_validate(json.loads(json.dumps(body))) == wl


def test_unknown_fields_are_ignored_and_ids_may_be_numbers() -> None:
    wl = WatchList.model_validate({**WATCH_LIST, "id": 42, "futureField": {"x": 1}})
    assert wl.id == "42"
    assert "futureField" not in wl.to_wire()
    event = ChangeEvent.model_validate(
        {"id": "evt_1", "itemId": 100012043978, "lists": [1, "2"], "observedAt": T0, "new": 1}
    )
    assert event.item_id == "100012043978"
    assert event.lists == ["1", "2"]


def test_snake_case_names_build_models_in_python() -> None:
    status = WatchListStatus(paused=True, paused_reason=PausedReason.BALANCE, spent_today=1)
    assert status.to_wire()["pausedReason"] == "balance"
    assert status.to_wire()["spentToday"] == "1"


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.decimals(min_value=0, max_value=Decimal(10**12), places=4))
def test_money_survives_json_exactly(amount: Decimal) -> None:
    """Yuan as a decimal string: every digit survives, and it is never exponent notation."""
    body = json.loads(json.dumps(WatchListStatus(spent_today=amount).to_wire()))
    text = body["spentToday"]
    assert isinstance(text, str)
    assert "E" not in text.upper()
    assert Decimal(text) == amount
    assert WatchListStatus.model_validate(body).spent_today == amount


def test_budgets_have_at_most_four_decimals_and_are_not_negative() -> None:
    with pytest.raises(ValidationError, match="4 decimal places"):
        WatchList.model_validate({**WATCH_LIST, "dailyBudget": "0.00001"})
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        WatchList.model_validate({**WATCH_LIST, "dailyBudget": "-1"})
    with pytest.raises(ValidationError):
        WatchList.model_validate({**WATCH_LIST, "dailyBudget": "NaN"})
    assert (
        WatchList.model_validate({**WATCH_LIST, "dailyBudget": "1E+2"}).to_wire()["dailyBudget"]
        == "100"
    )


@pytest.mark.parametrize(
    ("schedule", "mode"),
    [
        ({"intervalSeconds": 300}, "fixed"),
        ({"minIntervalSeconds": 300, "maxIntervalSeconds": 86400}, "adaptive"),
    ],
)
def test_a_schedule_is_fixed_or_adaptive(schedule: dict[str, int], mode: str) -> None:
    assert WatchSchedule.model_validate(schedule).mode == mode


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({}, "needs intervalSeconds"),
        ({"minIntervalSeconds": 300}, "needs intervalSeconds"),
        ({"intervalSeconds": 300, "maxIntervalSeconds": 900}, "not both"),
        ({"minIntervalSeconds": 900, "maxIntervalSeconds": 300}, "must not exceed"),
        ({"intervalSeconds": 0}, "greater than 0"),
    ],
)
def test_a_schedule_that_is_neither_says_what_to_send(
    schedule: dict[str, int], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        WatchSchedule.model_validate(schedule)


def test_rules_default_to_every_kind_without_thresholds() -> None:
    rules = WatchRules()
    assert rules.kinds == list(ChangeKind)
    assert rules.drop_percent is None
    assert rules.drop_yuan is None
    assert rules.price_at_most is None
    assert rules.cooldown_seconds == 6 * 3600
    twice = WatchRules.model_validate({"kinds": ["new_low", "price_drop", "new_low"]})
    assert twice.kinds == [ChangeKind.PRICE_DROP, ChangeKind.NEW_LOW]
    assert WatchRules(drop_yuan=Decimal("0.10")).to_wire()["dropYuan"] == "0.10"


def test_paused_reasons_are_a_closed_set() -> None:
    assert {r.value for r in PausedReason} == {
        "list_budget",
        "token_budget",
        "quota",
        "balance",
        "user",
    }
    with pytest.raises(ValidationError):
        WatchListStatus.model_validate({"paused": True, "pausedReason": "tired"})


def test_history_and_feed_pages_read_back() -> None:
    history = ItemHistory.model_validate(
        {
            "itemId": "100012043978",
            "points": [
                {
                    "validFrom": "2026-03-01T08:30:00Z",
                    "lastConfirmedAt": "2026-03-01T20:30:00Z",
                    "priceCurrent": None,
                    "priceOriginal": "799.00",
                    "priceMasked": True,
                    "inStock": True,
                    "stockState": 33,
                    "promotionTexts": ["满199减20"],
                    "shopId": 1000,
                    "title": "黛珂",
                }
            ],
        }
    )
    (point,) = history.points
    assert point.price_original == Decimal("799.00")
    assert point.known_price is None
    assert point.shop_id == "1000"
    assert ItemHistory.model_validate(history.to_wire()) == history
    page = ChangesPage.model_validate(
        {
            "events": [
                {
                    "id": "evt_01J",
                    "itemId": "1",
                    "observedAt": "2026-03-01T08:30:00Z",
                    "changes": [
                        {"field": "price_current", "before": "10.00", "after": "9.00"},
                        {"field": "in_stock", "before": True, "after": False},
                        {"field": "stock_state", "before": 33, "after": 34},
                    ],
                    "kinds": ["price_drop", "out_of_stock", "kind_from_the_future"],
                    "newLowDays": [30],
                }
            ],
            "cursor": "c1",
            "hasMore": False,
        }
    )
    (event,) = page.events
    assert [c.before for c in event.changes] == ["10.00", True, 33]
    assert event.kinds[-1] == "kind_from_the_future"
    assert ChangesPage.model_validate(page.to_wire()) == page
    assert ChangePoint.model_validate(point.to_wire()) == point
