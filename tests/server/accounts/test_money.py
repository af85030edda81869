"""Exact yuan ↔ unit conversion."""

from __future__ import annotations

from decimal import Decimal

import pytest

from jditem.server.accounts.money import MAX_UNITS, units_to_yuan, yuan_to_units


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("0", 0),
        ("0.01", 100),
        ("12.5", 125_000),
        ("0.0001", 1),
        (7, 70_000),
        (Decimal("1.10"), 11_000),
    ],
)
def test_yuan_to_units(text: str, units: int) -> None:
    assert yuan_to_units(text) == units


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.00001", "4 decimal places"),
        ("abc", "not a yuan amount"),
        ("nan", "not a yuan"),
        ("1e30", "plain decimal notation"),
        ("1e3", "plain decimal notation"),
        ("1_000", "plain decimal notation"),
        ("\uff11\uff12", "plain decimal notation"),  # full-width digits
        ("\u0663", "plain decimal notation"),  # Arabic-Indic three
        ("+3", "plain decimal notation"),
        ("0x10", "plain decimal notation"),
        ("Infinity", "plain decimal notation"),
        ("12.50000", "4 decimal places"),
        ("1" * 30, "too large"),
        ("100000000000.0001", "too large"),
        ("9" * 5000, "too long"),
        ("", "not a yuan amount"),
        (" 1", "spaces around it"),
        ("3\t", "spaces around it"),
        ("1\u3000", "spaces around it"),
    ],
)
def test_yuan_to_units_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        yuan_to_units(text)


def test_floats_are_refused() -> None:
    with pytest.raises(ValueError, match="not a float"):
        yuan_to_units(0.1)  # type: ignore[arg-type]


@pytest.mark.parametrize(("units", "text"), [(0, "0.0000"), (1, "0.0001"), (-1234500, "-123.4500")])
def test_units_to_yuan(units: int, text: str) -> None:
    assert units_to_yuan(units) == text
    assert yuan_to_units(text) == units


def test_max_units_fits_sqlite_integer() -> None:
    assert MAX_UNITS < 2**63
