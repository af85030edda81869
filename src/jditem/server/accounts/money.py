"""Money as integer minor units (1 unit = 0.0001 CNY) and exact yuan conversions."""

from __future__ import annotations

import re
from decimal import Decimal

#: Minor units per yuan.
UNITS_PER_YUAN = 10_000
#: Largest amount accepted anywhere (10^11 yuan), far inside SQLite's signed 64-bit range.
MAX_UNITS = 10**15
#: Largest account balance (a top-up that would pass it is refused): 100 billion yuan.
MAX_BALANCE_UNITS = MAX_UNITS
#: Largest token budget: 100 billion yuan.
MAX_BUDGET_UNITS = MAX_UNITS

#: Plain decimal notation: ASCII digits, an optional point and at most 4 decimals.
_PLAIN_YUAN = re.compile(r"(?P<sign>-?)(?P<whole>[0-9]+)(?:\.(?P<frac>[0-9]{1,4}))?", re.ASCII)
_HINT = "use plain decimal notation such as 12.50 (at most 4 decimals)"


def yuan_to_units(text: str | int | Decimal) -> int:
    """Convert a yuan amount in plain decimal notation (e.g. ``"12.5"``) to units, exactly.

    Strict: ASCII digits with an optional point and at most 4 decimals (an optional
    leading ``-``). Surrounding spaces (``" 1"``), exponents (``1e3``), underscores
    (``1_000``), signs other than ``-``, non-ASCII digits, ``NaN``/``Infinity`` and
    amounts past ``MAX_UNITS`` raise ``ValueError`` with a message saying what to send.
    Floats are refused: they cannot carry money exactly. (Console forms strip what a
    person typed before converting; the API and the CLI take the value as sent.)
    """
    if isinstance(text, (bool, float)):
        raise ValueError("pass yuan as a decimal string such as '12.50', not a float")
    if isinstance(text, Decimal):
        if not text.is_finite():
            raise ValueError(f"not a yuan amount: {text!r}; {_HINT}")
        text = format(text, "f")
    raw = str(text)
    if len(raw) > 64:
        raise ValueError(f"not a yuan amount (too long); {_HINT}")
    if raw != raw.strip():
        raise ValueError(f"{raw!r} has spaces around it; send the amount alone, e.g. '12.50'")
    match = _PLAIN_YUAN.fullmatch(raw)
    if match is None:
        if re.fullmatch(r"-?[0-9]+\.[0-9]{5,}", raw, re.ASCII):
            raise ValueError(f"{raw!r} has more than 4 decimal places; the smallest unit is 0.0001")
        raise ValueError(f"not a yuan amount: {raw!r}; {_HINT}")
    whole = match.group("whole").lstrip("0") or "0"
    if len(whole) > 16:
        raise ValueError(f"{raw!r} is too large: at most {MAX_UNITS // UNITS_PER_YUAN} yuan")
    frac = (match.group("frac") or "").ljust(4, "0")
    units = int(whole) * UNITS_PER_YUAN + int(frac)
    if units > MAX_UNITS:
        raise ValueError(f"{raw!r} is too large: at most {MAX_UNITS // UNITS_PER_YUAN} yuan")
    return -units if match.group("sign") else units


def units_to_yuan(units: int) -> str:
    """``1234500`` → ``"123.4500"`` (always four decimals, exact)."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), UNITS_PER_YUAN)
    return f"{sign}{whole}.{frac:04d}"
