"""Benchmark helper: the money rule, checked in a jditem database after a run.

:data:`MONEY_SQL` reads one row (the same SQL on SQLite and PostgreSQL); the change
between two reads must keep SPEC §2.5: Σ ledger charges = balance change = Σ token
spend, every charge has its charged code-0 call record, no call answered another
code, and at least as many charges as the load generator counted answers (requests
cut off at a round's end may be charged but not counted).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import astuple, dataclass
from pathlib import Path

#: One row: charges, Σ charge amounts, Σ token spend, Σ balances, charged code-0
#: call records, call records with another code.
MONEY_SQL = (
    "SELECT (SELECT COUNT(*) FROM ledger WHERE kind = 'charge'), "
    "(SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE kind = 'charge'), "
    "(SELECT COALESCE(SUM(spent), 0) FROM tokens), "
    "(SELECT COALESCE(SUM(balance), 0) FROM accounts), "
    "(SELECT COUNT(*) FROM call_records WHERE code = 0 AND charged > 0), "
    "(SELECT COUNT(*) FROM call_records WHERE code <> 0)"
)


@dataclass(frozen=True)
class Money:
    """The money columns of one database at one moment (see :data:`MONEY_SQL`)."""

    charges: int
    charged_sum: int  # Σ ledger amounts of charges (negative)
    spent: int
    balance: int
    code0_records: int
    other_records: int

    def __sub__(self, other: Money) -> Money:
        return Money(*(a - b for a, b in zip(astuple(self), astuple(other), strict=True)))


def check_money(name: str, delta: Money, answered: int) -> str:
    """A one-line report; raises SystemExit unless the change ``delta`` keeps the rule."""
    problems = []
    if not -delta.balance == -delta.charged_sum == delta.spent:
        problems.append(
            f"balance change {-delta.balance} / Σ ledger charges {-delta.charged_sum} / "
            f"Σ token spend {delta.spent} differ"
        )
    if delta.code0_records != delta.charges or delta.other_records:
        problems.append(
            f"{delta.charges:,} charges but {delta.code0_records:,} charged code-0 call "
            f"records and {delta.other_records:,} records with other codes"
        )
    if delta.charges < answered:
        problems.append(f"{answered:,} answers counted by wrk but only {delta.charges:,} charges")
    if problems:
        raise SystemExit(f"{name}: money check FAILED: " + "; ".join(problems))
    return (
        f"{name}: money check ok — {delta.charges:,} charges, each with its call record "
        f"(wrk counted {answered:,} answers), balance change = Σ ledger = Σ spend = "
        f"{delta.spent:,} units"
    )


def sqlite_money(db: Path) -> Callable[[], Money]:
    """Reads :class:`Money` from a SQLite file (read-only, beside the running server)."""

    def read() -> Money:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return Money(*(int(v or 0) for v in conn.execute(MONEY_SQL).fetchone()))

    return read
