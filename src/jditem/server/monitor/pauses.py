"""Why a watch list pauses, and whether that cause is gone (SPEC §6.2).

A list pauses when a check is refused for money or quota: its own daily budget (602 of
the list), the token's budget (602), the token's daily quota (303) or the account's
balance (601). Each cause clears by itself — the next local day, a raised budget, a
top-up — and :func:`cause_gone` tells, from the store, whether one more check would now
pass it. A person's pause (``user``) never clears by itself.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.protocol.codes import Code
from jditem.protocol.monitoring import PausedReason
from jditem.server.accounts import list_spend
from jditem.server.store.tables import Account, ApiToken, QuotaCounter
from jditem.server.store.watch_tables import WatchListRow

_BY_CODE = {
    Code.BUDGET_EXHAUSTED: PausedReason.TOKEN_BUDGET,
    Code.QUOTA_EXCEEDED: PausedReason.QUOTA,
    Code.INSUFFICIENT_BALANCE: PausedReason.BALANCE,
}


def reason_for(code: Code, cause: str | None) -> PausedReason | None:
    """The pause reason of a check answered ``code`` (``cause`` from the answer), else
    None (the answer does not pause the list)."""
    if cause == PausedReason.LIST_BUDGET.value:
        return PausedReason.LIST_BUDGET
    return _BY_CODE.get(code)


async def cause_gone(
    session: AsyncSession, row: WatchListRow, reason: PausedReason, price: int, day: str
) -> bool:
    """Whether one more check of ``price`` would now pass what paused ``row``."""
    if reason is PausedReason.LIST_BUDGET:
        return await list_spend.allows(session, row.id, day, price)
    if reason is PausedReason.BALANCE:
        balance = await session.scalar(select(Account.balance).where(Account.id == row.account_id))
        return balance is not None and balance >= price
    token = (
        await session.execute(
            select(ApiToken.budget, ApiToken.spent, ApiToken.daily_quota).where(
                ApiToken.id == row.token_id
            )
        )
    ).first()
    if token is None:
        return False
    budget, spent, daily_quota = token
    if reason is PausedReason.TOKEN_BUDGET:
        return budget is None or spent + price <= budget
    if reason is PausedReason.QUOTA:
        if daily_quota is None:
            return True
        used = await session.scalar(
            select(QuotaCounter.count).where(
                QuotaCounter.token_id == row.token_id, QuotaCounter.day == day
            )
        )
        return (used or 0) < daily_quota
    return False  # USER: only a person resumes it
