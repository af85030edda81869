"""The session's spending limit: reserve the worst case before, settle with the answers."""

from __future__ import annotations

import pytest

from jditem.mcp.budget import BudgetRefused, SpendBudget, format_yuan, parse_yuan


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("1", 10_000),
        ("1.00", 10_000),
        ("0.01", 100),
        ("0.0001", 1),
        (" 2.5 ", 25_000),
        ("0", 0),
    ],
)
def test_parse_yuan_is_exact(text: str, units: int) -> None:
    assert parse_yuan(text, name="--max-spend-yuan") == units


@pytest.mark.parametrize(
    "text", ["-1", "0.00001", "abc", "", "NaN", "inf", "1e3", "1_000", "1.", "1234567890123"]
)
def test_parse_yuan_refuses_what_is_not_an_amount(text: str) -> None:
    with pytest.raises(ValueError, match=r"--price-yuan .* plain number >= 0 with at most 4"):
        parse_yuan(text, name="--price-yuan")


@pytest.mark.parametrize(
    ("units", "text"),
    [(0, "0.00"), (100, "0.01"), (123, "0.0123"), (10_000, "1.00"), (15, "0.0015")],
)
def test_format_yuan(units: int, text: str) -> None:
    assert format_yuan(units) == text


def test_a_reservation_is_released_down_to_what_was_charged() -> None:
    budget = SpendBudget(limit_units=500, price_units=100)
    hold = budget.reserve(3, what="x")
    assert (budget.reserved_units, budget.left_units) == (300, 200)
    hold.settle(charged=1, uncertain=1)
    assert budget.reserved_units == 0
    assert (budget.charged_units, budget.uncertain_units, budget.spent_units) == (100, 100, 200)
    assert budget.left_units == 300
    with pytest.raises(RuntimeError):
        hold.settle(charged=0)


def test_a_call_that_could_pass_the_limit_is_refused_and_holds_nothing() -> None:
    budget = SpendBudget(limit_units=250, price_units=100)
    with pytest.raises(BudgetRefused) as refused:
        budget.reserve(3, what="get_products for 3 item(s)")
    message = refused.value.message
    assert "get_products for 3 item(s) could cost 0.03 yuan" in message
    assert "only 0.025 yuan" in message
    assert "At most 2 item(s) fit" in message
    assert "--max-spend-yuan" in message
    assert budget.reserved_units == 0
    budget.reserve(2, what="x").settle(charged=2)
    with pytest.raises(BudgetRefused, match="Nothing more can be fetched"):
        budget.reserve(1, what="x")


def test_concurrent_holds_never_pass_the_limit_together() -> None:
    """Holds in progress count: two tools cannot both reserve the last yuan."""
    budget = SpendBudget(limit_units=300, price_units=100)
    first = budget.reserve(2, what="a")
    with pytest.raises(BudgetRefused, match=r"0\.02 held by calls in progress"):
        budget.reserve(2, what="b")
    second = budget.reserve(1, what="c")
    first.settle(charged=0)  # pending: nothing charged, the hold goes back
    second.settle(charged=1)
    assert budget.left_units == 200


def test_uncertain_calls_count_against_the_limit() -> None:
    budget = SpendBudget(limit_units=100, price_units=100)
    budget.reserve(1, what="x").settle(charged=0, uncertain=1)
    assert budget.summary() == {
        "limit_yuan": "0.01",
        "spent_yuan": "0.01",
        "uncertain_yuan": "0.01",
        "left_yuan": "0.00",
        "price_yuan": "0.01",
    }
    with pytest.raises(BudgetRefused):
        budget.reserve(1, what="x")


def test_free_calls_are_never_refused() -> None:
    budget = SpendBudget(limit_units=0, price_units=0)
    budget.reserve(50, what="x").settle(charged=50)
    assert budget.spent_units == 0


def test_zero_calls_reserve_nothing() -> None:
    budget = SpendBudget(limit_units=0, price_units=100)
    budget.reserve(0, what="x").settle(charged=0)
    assert budget.left_units == 0
