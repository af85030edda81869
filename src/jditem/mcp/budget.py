"""The session's spending limit: what ``jditem mcp`` may spend, decided before each call.

Pure bookkeeping (no I/O, no clock): money is integer minor units (1 unit = 0.0001 CNY,
as everywhere in jditem). A tool that may spend asks :meth:`SpendBudget.reserve` for
the worst case *before* its first call — ``calls × price``, one charge per item — and
is refused with :class:`BudgetRefused` when that could pass the limit. When its calls
are done it settles the :class:`Hold` with what the answers said: charged calls, and
calls whose outcome is unknown (sent, but no complete answer came back: they may have
been charged, so they count too). What was reserved and not used is released.

Reservations and settlements are synchronous, so on one event loop concurrent tools
can never together pass the limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

#: Minor units per yuan (SPEC §2.5).
UNITS_PER_YUAN = 10_000
_PLAIN_YUAN = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,4}))?", re.ASCII)


def parse_yuan(text: str, *, name: str) -> int:
    """``"1.50"`` → ``15000`` units, exactly; ``ValueError`` naming option ``name`` unless
    ``text`` is a plain amount >= 0 with at most 4 decimals (and under 10^12 yuan)."""
    match = _PLAIN_YUAN.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"{name} {text!r} is not an amount in yuan: use a plain number >= 0 with at most "
            "4 decimals, e.g. 1.50"
        )
    whole, fraction = match.group(1), (match.group(2) or "").ljust(4, "0")
    return int(whole) * UNITS_PER_YUAN + int(fraction)


def format_yuan(units: int) -> str:
    """``100`` → ``"0.01"``, ``123`` → ``"0.0123"``, ``10000`` → ``"1.00"`` (exact)."""
    text = f"{Decimal(units) / UNITS_PER_YUAN:.4f}"
    while text.endswith("0") and len(text.split(".")[1]) > 2:
        text = text[:-1]
    return text


class BudgetRefused(Exception):
    """A call was refused before it was made: it could spend past the session's limit.

    ``message`` says what it could cost, what is left, and what to do.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class SpendBudget:
    """What this session may spend (``limit_units``) at ``price_units`` per charged call."""

    limit_units: int
    price_units: int
    #: Calls the server charged for, in units.
    charged_units: int = 0
    #: Calls that may have been charged (no complete answer came back), in units.
    uncertain_units: int = 0
    #: Held by calls in progress.
    reserved_units: int = 0

    def __post_init__(self) -> None:
        if self.limit_units < 0 or self.price_units < 0:
            raise ValueError("the limit and the price must be >= 0")

    @property
    def spent_units(self) -> int:
        """Charged plus possibly charged: what counts against the limit."""
        return self.charged_units + self.uncertain_units

    @property
    def left_units(self) -> int:
        """What may still be reserved."""
        return max(0, self.limit_units - self.spent_units - self.reserved_units)

    def affordable(self) -> int:
        """How many more calls could be reserved now (a large number when calls are free)."""
        if self.price_units == 0:
            return 1 << 30
        return self.left_units // self.price_units

    def reserve(self, calls: int, *, what: str) -> Hold:
        """Hold the price of ``calls`` charged calls, or raise :class:`BudgetRefused`.

        ``what`` names the action in the refusal (e.g. ``"get_product for 1 item"``).
        """
        if calls < 0:
            raise ValueError(f"calls must be >= 0, got {calls}")
        need = calls * self.price_units
        if need > self.left_units:
            raise BudgetRefused(self._refusal(calls, need, what))
        self.reserved_units += need
        return Hold(self, need)

    def _refusal(self, calls: int, need: int, what: str) -> str:
        fits = self.affordable()
        fewer = (
            f" At most {fits} item(s) fit in what is left."
            if 0 < fits < calls
            else " Nothing more can be fetched in this session."
            if fits == 0
            else ""
        )
        return (
            f"Refused before any call was made: {what} could cost {format_yuan(need)} yuan "
            f"({calls} × {format_yuan(self.price_units)} yuan per charged call), but only "
            f"{format_yuan(self.left_units)} yuan of this session's spending limit of "
            f"{format_yuan(self.limit_units)} yuan is left (spent {format_yuan(self.spent_units)}"
            f"{self._busy()}).{fewer} Tell the user; they can raise the limit by restarting "
            "jditem mcp with a higher --max-spend-yuan. Products already fetched in this "
            "session can still be read free."
        )

    def _busy(self) -> str:
        if self.reserved_units:
            return f", {format_yuan(self.reserved_units)} held by calls in progress"
        return ""

    def summary(self) -> dict[str, str]:
        """The state in yuan strings, for a tool result."""
        return {
            "limit_yuan": format_yuan(self.limit_units),
            "spent_yuan": format_yuan(self.spent_units),
            "uncertain_yuan": format_yuan(self.uncertain_units),
            "left_yuan": format_yuan(self.left_units),
            "price_yuan": format_yuan(self.price_units),
        }


@dataclass
class Hold:
    """Units reserved for the calls of one tool; :meth:`settle` exactly once."""

    budget: SpendBudget
    units: int
    settled: bool = False

    def settle(self, *, charged: int, uncertain: int = 0) -> None:
        """Release the hold; book ``charged`` and ``uncertain`` calls at the budget's price.

        Calls past what was held are booked too (the money is spent whatever was planned).
        """
        if self.settled:
            raise RuntimeError("this hold was settled already")
        if charged < 0 or uncertain < 0:
            raise ValueError("charged and uncertain must be >= 0")
        self.settled = True
        budget = self.budget
        budget.reserved_units -= self.units
        budget.charged_units += charged * budget.price_units
        budget.uncertain_units += uncertain * budget.price_units
