"""Money as integer minor units (1 unit = 0.0001 CNY) and exact yuan conversions."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

#: Minor units per yuan.
UNITS_PER_YUAN = 10_000
#: Largest amount accepted anywhere (10^11 yuan), far inside SQLite's signed 64-bit range.
MAX_UNITS = 10**15


def yuan_to_units(text: str | int | Decimal) -> int:
    """Convert a decimal yuan amount (e.g. ``"12.5"``) to units, exactly.

    Raises ``ValueError`` with a clear message for non-numbers and for amounts finer
    than 0.0001 yuan. Floats are refused: they cannot carry money exactly.
    """
    if isinstance(text, float):
        raise ValueError("pass yuan as a decimal string such as '12.50', not a float")
    try:
        amount = Decimal(str(text).strip())
    except InvalidOperation:
        raise ValueError(f"not a yuan amount: {text!r}; use a decimal such as 12.50") from None
    if not amount.is_finite():
        raise ValueError(f"not a yuan amount: {text!r}; use a decimal such as 12.50")
    units = amount * UNITS_PER_YUAN
    if units != units.to_integral_value():
        raise ValueError(f"{text!r} has more than 4 decimal places; the smallest unit is 0.0001")
    if abs(units) > MAX_UNITS:
        raise ValueError(f"{text!r} is too large: at most {MAX_UNITS // UNITS_PER_YUAN} yuan")
    return int(units)


def units_to_yuan(units: int) -> str:
    """``1234500`` → ``"123.4500"`` (always four decimals, exact)."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), UNITS_PER_YUAN)
    return f"{sign}{whole}.{frac:04d}"
