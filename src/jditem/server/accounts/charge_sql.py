"""The SQL of a charge, as Core statements run on the writer's DBAPI cursor.

Each statement is compiled once per dialect (:class:`~jditem.server.store.writer.Prepared`)
and guarded in the store of record: ``spent + :amount <= budget``, ``balance >=
:amount``, ``count + :n <= quota``. The reads take row locks on PostgreSQL (``FOR NO KEY
UPDATE``, a no-op on SQLite whose ``BEGIN IMMEDIATE`` already holds the write lock), so
the rows a batch plans from cannot change before it writes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    String,
    Table,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)

from jditem.server.accounts.charging import ChargeRequest, ChargeResult
from jditem.server.accounts.usage import rollup, write_calls
from jditem.server.monitor import history
from jditem.server.store.tables import (
    Account,
    ApiToken,
    BulkJobItem,
    IdempotencyKey,
    LedgerEntry,
    QuotaCounter,
)
from jditem.server.store.types import UtcDateTime
from jditem.server.store.writer import Prepared

#: ``key_since`` of a keyed charge that gave none: the key never expires.
_NO_EXPIRY = datetime(1970, 1, 1, tzinfo=UTC)

_T = cast(Table, ApiToken.__table__)
_A = cast(Table, Account.__table__)
_Q = cast(Table, QuotaCounter.__table__)
_L = cast(Table, LedgerEntry.__table__)
_T_ID = bindparam("t_id", type_=Integer())
_A_ID = bindparam("a_id", type_=Integer())
_AMOUNT = bindparam("amount", type_=BigInteger())
_N = bindparam("n", type_=Integer())
_COUNT_KEY = (_Q.c.token_id == _T_ID, _Q.c.day == bindparam("q_day", type_=String()))

# FOR NO KEY UPDATE (rendered on PostgreSQL, a no-op on SQLite whose BEGIN IMMEDIATE
# already holds the write lock): the rows a batch plans from cannot change before it
# writes. Rows are locked in one order (tokens, accounts, quota counters; each by key)
# so two processes' batches never deadlock; NO KEY (the lock the UPDATEs take anyway)
# does not block the KEY SHARE locks that inserts referencing these rows (quota
# counters, idempotency keys) take, so those never deadlock with a batch either.
SELECT_TOKEN = Prepared(
    select(_T.c.budget, _T.c.spent).where(_T.c.id == _T_ID).with_for_update(key_share=True)
)
SELECT_BALANCE = Prepared(
    select(_A.c.balance).where(_A.c.id == _A_ID).with_for_update(key_share=True)
)
SELECT_COUNT = Prepared(select(_Q.c.count).where(*_COUNT_KEY).with_for_update(key_share=True))
SPEND = Prepared(
    update(_T)
    .where(_T.c.id == _T_ID, or_(_T.c.budget.is_(None), _T.c.spent + _AMOUNT <= _T.c.budget))
    .values(spent=_T.c.spent + _AMOUNT, last_used_at=bindparam("at", type_=UtcDateTime()))
)
UNSPEND = Prepared(update(_T).where(_T.c.id == _T_ID).values(spent=_T.c.spent - _AMOUNT))
PAY = Prepared(
    update(_A)
    .where(_A.c.id == _A_ID, _A.c.balance >= _AMOUNT)
    .values(balance=_A.c.balance - _AMOUNT)
)
COUNT = Prepared(
    update(_Q)
    .where(*_COUNT_KEY, _Q.c.count + _N <= bindparam("q_limit", type_=Integer()))
    .values(count=_Q.c.count + _N)
)
UNCOUNT = Prepared(update(_Q).where(*_COUNT_KEY, _Q.c.count >= _N).values(count=_Q.c.count - _N))
DROP_COUNT = Prepared(delete(_Q).where(*_COUNT_KEY, _Q.c.count == _N))
NEW_COUNT = Prepared(
    insert(_Q).values(token_id=_T_ID, day=bindparam("q_day", type_=String()), count=_N)
)
_LEDGER_COLUMNS = (
    "account_id",
    "token_id",
    "kind",
    "amount",
    "request_id",
    "item_id",
    "created_at",
)
LEDGER = Prepared(insert(_L), column_keys=_LEDGER_COLUMNS)
_K = cast(Table, IdempotencyKey.__table__)
_SINCE = bindparam("since", type_=UtcDateTime())
_KEY_MATCH = (_K.c.token_id == _T_ID, _K.c.key == bindparam("k", type_=String()))
SELECT_KEY = Prepared(select(_K.c.item_id).where(*_KEY_MATCH, _K.c.created_at >= _SINCE))
_DROP_OLD_KEY = Prepared(delete(_K).where(*_KEY_MATCH, _K.c.created_at < _SINCE))
_KEY_COLUMNS = ("token_id", "key", "item_id", "request_id", "created_at")
_NEW_KEY = Prepared(insert(_K), column_keys=_KEY_COLUMNS)
_PURGE_KEYS = Prepared(delete(_K).where(_K.c.created_at < _SINCE))
_J = cast(Table, BulkJobItem.__table__)
_JOB_ITEM_CHARGED = Prepared(
    update(_J)
    .where(_J.c.id == bindparam("j_id", type_=Integer()))
    .values(charged=_J.c.charged + _AMOUNT)
)


def write_charged_extras(
    connection: Connection, batch: list[ChargeRequest], results: list[ChargeResult]
) -> None:
    """The call records, job-item totals and history observations of the charged requests
    (same transaction)."""
    charged = [r for r, res in zip(batch, results, strict=True) if res is ChargeResult.CHARGED]
    calls = [r.call for r in charged if r.call is not None]
    if calls:
        write_calls(connection, calls, rollup(calls))
    seen = [s for r in charged for s in r.seen]
    if seen:  # the accounts' rows are locked by the charge: see monitor.history
        history.record(connection, seen)
    for req in sorted(charged, key=lambda r: r.job_item_id or 0):
        if req.job_item_id is not None:
            _JOB_ITEM_CHARGED.rowcount(connection, {"j_id": req.job_item_id, "amount": req.price})


def key_params(req: ChargeRequest) -> dict[str, object]:
    return {"t_id": req.token_id, "k": req.idempotency_key, "since": key_since(req)}


def key_since(req: ChargeRequest) -> datetime:
    return req.key_since if req.key_since is not None else _NO_EXPIRY


def key_row(req: ChargeRequest) -> dict[str, object]:
    return {
        "token_id": req.token_id,
        "key": req.idempotency_key,
        "item_id": req.item_id,
        "request_id": req.request_id,
        "created_at": req.now,
    }


def key_result(used_for: str, req: ChargeRequest) -> ChargeResult:
    return ChargeResult.REPLAYED if used_for == req.item_id else ChargeResult.KEY_CONFLICT


def write_key(connection: Connection, req: ChargeRequest) -> None:
    """Replace an expired row of the key (if any) and write the charge's key row."""
    _DROP_OLD_KEY.rowcount(connection, key_params(req))
    _NEW_KEY.executemany(connection, [key_row(req)])


def purge_keys(connection: Connection, before: datetime) -> int:
    """Delete idempotency key rows created before ``before`` (writer thread)."""
    return _PURGE_KEYS.rowcount(connection, {"since": before})


def ledger_row(req: ChargeRequest) -> dict[str, object]:
    return {
        "account_id": req.account_id,
        "token_id": req.token_id,
        "kind": "charge",
        "amount": -req.price,
        "request_id": req.request_id,
        "item_id": req.item_id,
        "created_at": req.now,
    }


def integrity_error(connection: Connection) -> type[Exception]:
    error: type[Exception] = connection.dialect.loaded_dbapi.IntegrityError
    return error
