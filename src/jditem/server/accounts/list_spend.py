"""The watch-list guard of a charge (SPEC §6.2): Σ a list's charges per day ≤ its budget.

A watch list's check is charged like any call (token budget, quota, balance) and, in
the same transaction, adds its price to the list's spend of the local day
(``watch_spend``) only while ``spent + price <= watch_lists.daily_budget``. The budget
is read in the transaction (a row lock on PostgreSQL), so a budget lowered meanwhile
binds at once. Lock order after the charge's own: the list, then its spend row.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import BigInteger, Connection, Integer, String, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.server.accounts.charging import ChargeRequest
from jditem.server.store.tables import Account
from jditem.server.store.watch_tables import WatchListRow, WatchSpendRow
from jditem.server.store.writer import Prepared

_W = cast(Table, WatchListRow.__table__)
_S = cast(Table, WatchSpendRow.__table__)
_A = cast(Table, Account.__table__)
_L_ID = bindparam("l_id", type_=Integer())
_DAY = bindparam("l_day", type_=String())
_AMOUNT = bindparam("amount", type_=BigInteger())
_N = bindparam("n", type_=Integer())
_SPEND_KEY = (_S.c.list_id == _L_ID, _S.c.day == _DAY)

SELECT_BUDGET = Prepared(
    select(_W.c.daily_budget).where(_W.c.id == _L_ID).with_for_update(key_share=True)
)
SELECT_SPENT = Prepared(select(_S.c.spent).where(*_SPEND_KEY).with_for_update(key_share=True))
_BUDGET = select(_W.c.daily_budget).where(_W.c.id == _L_ID).scalar_subquery()
ADD = Prepared(
    update(_S)
    .where(*_SPEND_KEY, _S.c.spent + _AMOUNT <= _BUDGET)
    .values(spent=_S.c.spent + _AMOUNT, checks=_S.c.checks + _N)
)
NEW = Prepared(_S.insert().values(list_id=_L_ID, day=_DAY, spent=_AMOUNT, checks=_N))
REFUND = Prepared(
    update(_A)
    .where(_A.c.id == bindparam("a_id", type_=Integer()))
    .values(balance=_A.c.balance + _AMOUNT)
)


def params(list_id: int, day: str, amount: int, n: int = 1) -> dict[str, object]:
    """The bind parameters of the statements above."""
    return {"l_id": list_id, "l_day": day, "amount": amount, "n": n}


def read(connection: Connection, list_id: int, day: str) -> tuple[int, int | None] | None:
    """``(daily budget, spent that day or None without a row)`` locked; None: no list."""
    key = params(list_id, day, 0)
    budget = SELECT_BUDGET.rows(connection, key)
    if not budget:
        return None
    spent = SELECT_SPENT.rows(connection, key)
    return int(budget[0][0]), (int(spent[0][0]) if spent else None)


def add_one(connection: Connection, req: ChargeRequest) -> bool:
    """Add ``req``'s price to its list's spend of ``req.day`` unless over the budget."""
    assert req.watch_list_id is not None
    assert req.day is not None
    bound = params(req.watch_list_id, req.day, req.price)
    if ADD.rowcount(connection, bound) == 1:
        return True
    found = read(connection, req.watch_list_id, req.day)
    if found is None or found[1] is not None or req.price > found[0]:
        return False
    NEW.rowcount(connection, bound)  # a concurrent insert raises: the caller retries
    return True


def refund(connection: Connection, req: ChargeRequest) -> None:
    """Give the account back what :data:`charge_sql.PAY` took for ``req``."""
    REFUND.rowcount(connection, {"a_id": req.account_id, "amount": req.price})


async def allows(session: AsyncSession, list_id: int, day: str, price: int) -> bool:
    """Whether one more check of ``price`` fits the list's budget of ``day`` now (a
    read before collecting; the charge's guarded update decides)."""
    row = (
        await session.execute(
            select(WatchListRow.daily_budget, WatchSpendRow.spent)
            .outerjoin(
                WatchSpendRow,
                (WatchSpendRow.list_id == WatchListRow.id) & (WatchSpendRow.day == day),
            )
            .where(WatchListRow.id == list_id)
        )
    ).first()
    return row is not None and (row[1] or 0) + price <= row[0]
