"""Charging a successful call (SPEC §2.5): conditional updates plus a ledger row.

Inside one transaction: the token's spend grows only if it stays within its budget,
the account balance shrinks only if it stays non-negative, and an append-only ledger
row keyed by the request id records the movement. If either update matches no row,
the caller rolls the transaction back and answers 602 / 601 without data.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import insert, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.server.store.tables import Account, ApiToken, LedgerEntry


class ChargeResult(enum.Enum):
    """Outcome of :func:`charge`."""

    CHARGED = "charged"
    BUDGET_EXHAUSTED = "budget_exhausted"  # 602
    INSUFFICIENT_BALANCE = "insufficient_balance"  # 601
    #: Only when the charge also counts the call against the daily quota (303).
    QUOTA_EXCEEDED = "quota_exceeded"
    #: Only for a charge with an idempotency key: the token already paid for this item
    #: under this key; nothing was charged or counted (served free, as a replay).
    REPLAYED = "replayed"
    #: Only for a charge with an idempotency key: the token used the key for another
    #: item; nothing was charged or counted (400).
    KEY_CONFLICT = "key_conflict"


async def charge(
    session: AsyncSession,
    *,
    account_id: int,
    token_id: int,
    price: int,
    request_id: str,
    item_id: str,
    now: datetime,
) -> ChargeResult:
    """Take ``price`` units for one call. On a non-CHARGED result, roll back the transaction."""
    spent = await session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(ApiToken.budget.is_(None), ApiToken.spent + price <= ApiToken.budget),
        )
        .values(spent=ApiToken.spent + price, last_used_at=now)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        return ChargeResult.BUDGET_EXHAUSTED
    paid = await session.execute(
        update(Account)
        .where(Account.id == account_id, Account.balance >= price)
        .values(balance=Account.balance - price)
    )
    if paid.rowcount != 1:  # type: ignore[attr-defined]
        return ChargeResult.INSUFFICIENT_BALANCE
    await session.execute(
        insert(LedgerEntry).values(
            account_id=account_id,
            token_id=token_id,
            kind="charge",
            amount=-price,
            request_id=request_id,
            item_id=item_id,
            created_at=now,
        )
    )
    return ChargeResult.CHARGED
