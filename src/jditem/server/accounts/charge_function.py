"""The common charge group commit on PostgreSQL as ONE statement (ranked change 1 of
issue 22).

A batch whose charges need only the money rules — token budget, account balance, daily
quota, the ledger, the call records and their hourly rollup — is applied by the
PostgreSQL function ``jditem_charge_batch`` (migration ``0016_charge_function``) in one
statement on the charge batcher's held connection, through the driver itself: one round
trip, its own transaction, no ``BEGIN``/``COMMIT`` and no SQLAlchemy adapter per
statement. The function decides exactly as :func:`~.charge_plan.apply_batch` (the
reference, with :func:`~.charge_plan.apply_each`), and raises a stale plan the same way.

Batches with an idempotency key, a watch list's spend, history observations or a
bulk-job item (:func:`fits` is False) keep the :func:`~.charge_plan.apply_batch` path.

The statement is its own commit, so a connection lost while it runs leaves unknown
whether the batch committed. :func:`settle_lost` reads that back: a charged request
always has its ledger row (keyed by its request id) and a refused one wrote nothing, so
the requests with a ledger row were charged and the others are applied once more.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, select

from jditem.server.accounts.charge_plan import StalePlanError, apply_each_retrying
from jditem.server.accounts.charge_sql import SELECT_TOKEN
from jditem.server.accounts.charging import ChargeRequest, ChargeResult
from jditem.server.accounts.usage import hour_of
from jditem.server.store.tables import LedgerEntry

#: Raised by the function when a guarded update matches no row (a stale plan).
STALE_SQLSTATE = "JD001"
#: A unique violation: a quota row another transaction inserted meanwhile.
UNIQUE_VIOLATION = "23505"

CALL = "SELECT jditem_charge_batch(" + ", ".join(f"${n}" for n in range(1, 21)) + ")"

_L = cast(Table, LedgerEntry.__table__)
_SELECT_CHARGED = select(_L.c.request_id).where(
    _L.c.request_id.in_(bindparam("ids", expanding=True))
)


def fits(batch: list[ChargeRequest]) -> bool:
    """True when every charge of ``batch`` needs only the money rules (see the module)."""
    return all(
        r.idempotency_key is None
        and r.watch_list_id is None
        and not r.seen
        and r.job_item_id is None
        for r in batch
    )


def arguments(batch: list[ChargeRequest]) -> list[list[Any]]:
    """The function's 20 array arguments for ``batch`` (one element per charge)."""
    calls = [r.call for r in batch]
    return [
        [r.account_id for r in batch],
        [r.token_id for r in batch],
        [r.price for r in batch],
        [r.request_id for r in batch],
        [r.item_id for r in batch],
        [r.now for r in batch],
        [r.quota for r in batch],
        [r.day for r in batch],
        [c.request_id if c else None for c in calls],
        [c.token_id if c else None for c in calls],
        [c.account_id if c else None for c in calls],
        [c.endpoint if c else None for c in calls],
        [c.item_id if c else None for c in calls],
        [c.code if c else None for c in calls],
        [c.charged if c else None for c in calls],
        [c.task_id if c else None for c in calls],
        [c.latency_ms if c else None for c in calls],
        [c.created_at if c else None for c in calls],
        [c.watch_list_id if c else None for c in calls],
        [hour_of(c.created_at) if c else None for c in calls],
    ]


async def apply_function(driver: Any, batch: list[ChargeRequest]) -> list[ChargeResult]:
    """Apply ``batch`` with one call of the function on ``driver`` (an asyncpg
    connection outside any transaction); one result per charge, in order.

    Raises :class:`~.charge_plan.StalePlanError` where ``apply_batch`` would (nothing
    was written: the statement rolled back).
    """
    try:
        words = await driver.fetchval(CALL, *arguments(batch))
    except Exception as exc:
        state = getattr(exc, "sqlstate", None)
        if state == STALE_SQLSTATE or (
            state == UNIQUE_VIOLATION and getattr(exc, "table_name", None) == "quota_counters"
        ):
            raise StalePlanError(str(exc)) from exc
        raise
    return [ChargeResult(word) for word in words]


def settle_lost(connection: Connection, batch: list[ChargeRequest]) -> list[ChargeResult]:
    """After the connection was lost during :func:`apply_function`: the requests whose
    ledger row exists were charged by it; the others are applied (one by one) now.

    The batch's token rows are locked first, in the function's order: a statement still
    running on the server for the lost connection holds them, so the ledger is read only
    once it has committed or rolled back. (One reaching the server only after this
    transaction would re-decide from the rows it wrote; a request charged by both would
    fail on the ledger's unique request id and roll that statement back.)
    """
    for token_id in sorted({r.token_id for r in batch}):
        SELECT_TOKEN.rows(connection, {"t_id": token_id})
    ids = [r.request_id for r in batch]
    charged = set(connection.execute(_SELECT_CHARGED, {"ids": ids}).scalars())
    rest = [r for r in batch if r.request_id not in charged]
    applied = iter(apply_each_retrying(connection, rest) if rest else [])
    return [ChargeResult.CHARGED if r.request_id in charged else next(applied) for r in batch]
