"""The operator's caps on the tokens an account's members create (SPEC §2.9, §7).

Caps bind owners and plain members alike, on every limit a member can set on a token:

* **budget**, **rate limit** and **daily quota**: with a cap, the token must set that
  limit, at most the cap (an empty limit would mean "none", i.e. past any cap);
* **burst**: capped whenever the rate is. The burst cap is ``max_burst`` when the
  operator set one, else one second's worth of calls at the capped rate
  (``ceil(max_rate_limit)``, at least 1) — the bucket a token without a burst gets
  anyway. A token's burst, or one second of its own rate when it sets none, must be at
  most the burst cap. A burst cap without a rate cap is refused (a token without a rate
  limit has no bucket to cap);
* **permissions** only narrow what a token may call, so they need no cap.

When the operator sets or lowers a cap, the account's member-created tokens that pass it
are lowered to it in the same transaction (a token without that limit gets the cap), so a
cap holds at once, not only for tokens made afterwards; raising a cap changes no token.
Tokens an operator created are the operator's own decision and stay as they are (an
owner editing one must bring it within the caps).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.server.accounts.errors import InvalidInputError, NotFoundError
from jditem.server.accounts.limits import check_limits
from jditem.server.accounts.money import units_to_yuan
from jditem.server.accounts.service import account_by_name
from jditem.server.shared.limiter import effective_burst
from jditem.server.store.tables import Account, ApiToken
from jditem.wording import plural


class MemberCaps(BaseModel):
    """The caps an operator set on tokens the account's members create (``None``: no cap)."""

    max_budget_units: int | None = None
    max_rate_limit: float | None = None
    max_burst: int | None = None
    max_daily_quota: int | None = None

    @property
    def burst_cap(self) -> int | None:
        """The most burst a member's token may have: ``max_burst``, else one second's
        worth at the capped rate; ``None`` when the rate is not capped."""
        if self.max_rate_limit is None:
            return None
        if self.max_burst is not None:
            return self.max_burst
        return max(1, math.ceil(self.max_rate_limit))


_COLUMNS = (
    Account.member_max_budget,
    Account.member_max_rate_limit,
    Account.member_max_burst,
    Account.member_max_daily_quota,
)


def _caps(row: Any) -> MemberCaps:
    budget, rate, burst, quota = row
    return MemberCaps(
        max_budget_units=budget, max_rate_limit=rate, max_burst=burst, max_daily_quota=quota
    )


async def member_caps(session: AsyncSession, account_id: int) -> MemberCaps:
    """The caps on tokens the account's members create."""
    row = (await session.execute(select(*_COLUMNS).where(Account.id == account_id))).first()
    if row is None:
        raise NotFoundError(f"no account with id {account_id}")
    return _caps(row)


async def caps_by_account(session: AsyncSession) -> dict[str, MemberCaps]:
    """Every account's member caps, by account name."""
    rows = await session.execute(select(Account.name, *_COLUMNS).order_by(Account.name))
    return {row[0]: _caps(row[1:]) for row in rows}


def _check(caps: MemberCaps) -> None:
    check_limits(
        {
            "budget_units": caps.max_budget_units,
            "rate_limit": caps.max_rate_limit,
            "burst": caps.max_burst,
            "daily_quota": caps.max_daily_quota,
        }
    )
    if caps.max_burst is not None and caps.max_rate_limit is None:
        raise InvalidInputError(
            "a burst cap needs a rate cap: set the max rate too (a token without a rate "
            "limit has no burst to cap)"
        )


async def set_member_caps(
    session: AsyncSession, account_name: str, caps: MemberCaps
) -> tuple[MemberCaps, int]:
    """The operator sets the caps; returns them and how many existing member-created
    tokens were lowered to them (see the module docstring)."""
    _check(caps)
    account = await account_by_name(session, account_name)
    account.member_max_budget = caps.max_budget_units
    account.member_max_rate_limit = caps.max_rate_limit
    account.member_max_burst = caps.max_burst
    account.member_max_daily_quota = caps.max_daily_quota
    members_tokens = and_(
        ApiToken.account_id == account.id, ApiToken.created_by_member_id.is_not(None)
    )
    passing = []
    for column, cap in (
        (ApiToken.budget, caps.max_budget_units),
        (ApiToken.rate_limit, caps.max_rate_limit),
        (ApiToken.daily_quota, caps.max_daily_quota),
    ):
        if cap is not None:
            passing.append((column, or_(column.is_(None), column > cap), cap))
    burst = caps.burst_cap
    if burst is not None:
        # after the rate is lowered; a token without a burst has ceil(rate) of them
        rate = ApiToken.rate_limit
        too_big = or_(ApiToken.burst > burst, and_(ApiToken.burst.is_(None), rate > burst))
        passing.append((ApiToken.burst, too_big, burst))
    lowered: set[int] = set()
    for column, condition, cap in passing:
        ids = await session.scalars(select(ApiToken.id).where(members_tokens, condition))
        lowered.update(ids)
        await session.execute(
            update(ApiToken).where(members_tokens, condition).values({column.key: cap})
        )
    await session.commit()
    return caps, len(lowered)


def check_within_caps(caps: MemberCaps, fields: dict[str, Any]) -> None:
    """Refuse token limits a member may not set: with a cap, the limit is required and
    at most the cap; the burst (or one second of the rate) at most the burst cap."""
    budget = caps.max_budget_units
    for key, cap, shown in (
        ("budget_units", budget, f"budget of {units_to_yuan(budget or 0)} yuan"),
        ("rate_limit", caps.max_rate_limit, f"rate limit of {caps.max_rate_limit} requests/second"),
        (
            "daily_quota",
            caps.max_daily_quota,
            f"daily quota of {plural(caps.max_daily_quota or 0, 'call')}",
        ),
    ):
        value = fields.get(key)
        if cap is not None and (value is None or value > cap):
            raise InvalidInputError(
                f"set a {shown} or less: that is the most the operator allows for tokens "
                "this account's members create (ask the operator to raise it)"
            )
    most = caps.burst_cap
    rate = fields.get("rate_limit")
    if most is not None and rate is not None and effective_burst(rate, fields.get("burst")) > most:
        raise InvalidInputError(
            f"set a burst of {most} or less (an empty burst means one second's worth of the "
            "rate): that is the most the operator allows for tokens this account's members "
            "create (ask the operator to raise it)"
        )
