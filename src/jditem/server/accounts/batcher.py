"""Group commit for charges: many concurrent charges, one write transaction.

Each charge needs a write transaction (SPEC §2.5), and SQLite has one writer at a
time, so charging call by call caps throughput at one commit round trip per call. The
:class:`ChargeBatcher` queues the charges of concurrent calls and applies them together
in ONE transaction, in one round trip to the database's writer thread
(:class:`~jditem.server.store.writer.SyncWriter`, a synchronous connection whose
transactions start with ``BEGIN IMMEDIATE``). A charge may also count its call against
the token's daily quota (SPEC §2.4 step 5) in the same transaction, so an admitted,
charged call costs a share of one transaction, not several.

Within a batch (:func:`apply_batch`): the batch reads the spend, budget, balance and
quota counts of the tokens and accounts involved, decides each charge *in arrival
order* exactly as one-by-one conditional updates would, then writes one conditional
``UPDATE`` per token, per account and per quota counter (each still guarded:
``spent + :amount <= budget``, ``balance >= :amount``, ``count + :n <= quota``) and the
ledger rows. The transaction holds SQLite's write lock from its ``BEGIN``, so the reads
cannot change under it; if a guard ever matches no row anyway, the batch is rolled
back and applied again one request at a time (:func:`apply_each`, the reference
semantics). Either way: no overspend, balance never negative, Σ ledger = balance change
= Σ token spend, and a rejected charge consumes nothing (no quota, budget or balance).

A charge may carry an idempotency key (:mod:`jditem.server.accounts.idempotency`): the
key row is written in the same transaction as the charge, and a charge whose token
already holds a valid row for the key is not applied at all — it answers
:attr:`ChargeResult.REPLAYED` (same item) or :attr:`ChargeResult.KEY_CONFLICT`
(another item) without counting, spending or paying. Within a batch the first charge of
a key wins and the later ones replay, exactly as one by one. Expired key rows are
deleted by the batcher at most once a minute (only once keyed charges were seen).

On PostgreSQL the same batch functions run on a pooled connection (see
:meth:`~jditem.server.store.db.Database.write_batch`); the planning reads take row
locks (``FOR UPDATE``, in a fixed order) instead of SQLite's database write lock. On
an in-memory SQLite each charge is one async transaction
(:func:`jditem.server.accounts.charging.charge`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
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
from sqlalchemy.exc import IntegrityError

from jditem.server.accounts import idempotency
from jditem.server.accounts import quota as quota_counts
from jditem.server.accounts.charging import ChargeResult, charge
from jditem.server.accounts.usage import CallRow, add_calls, rollup, write_calls
from jditem.server.store.db import Database
from jditem.server.store.tables import (
    Account,
    ApiToken,
    BulkJobItem,
    IdempotencyKey,
    LedgerEntry,
    QuotaCounter,
)
from jditem.server.store.writer import Prepared

#: Most charges applied in one transaction.
MAX_BATCH = 256
#: Bound on waiting for the queued charges at shutdown.
STOP_TIMEOUT = 10.0
#: ``key_since`` of a keyed charge that gave none: the key never expires.
_NO_EXPIRY = datetime(1970, 1, 1, tzinfo=UTC)

log = logging.getLogger("jditem.server.accounts.batcher")


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    """One call to charge (``price`` > 0).

    With ``quota`` and ``day`` set, the call is also counted for ``(token_id, day)``
    in the same transaction, unless ``quota`` calls were already counted that day
    (then :attr:`ChargeResult.QUOTA_EXCEEDED`, and nothing is charged or counted).

    With ``idempotency_key`` set, the key row is written with the charge; when the
    token already holds the key (a row created at or after ``key_since``), nothing is
    charged or counted and the result is REPLAYED (same item) or KEY_CONFLICT.
    """

    account_id: int
    token_id: int
    price: int
    request_id: str
    item_id: str
    now: datetime
    quota: int | None = None
    day: str | None = None
    idempotency_key: str | None = None
    key_since: datetime | None = None
    #: The call's record, written in the charge's transaction when it is charged (so
    #: an answered, charged call never lacks its call record, even after kill -9).
    call: CallRow | None = None
    #: A console bulk-job item (``bulk_job_items.id``) whose ``charged`` total the
    #: charge adds to, in the same transaction.
    job_item_id: int | None = None


class StalePlanError(Exception):
    """A guarded batch update matched no row: the batch is applied one by one instead."""


# Core statements, compiled once and run on the writer's DBAPI cursor (see Prepared).
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
# does not block the KEY SHARE locks that inserts referencing these rows (ledger,
# quota counters) take, so those never deadlock with a batch either.
_SELECT_TOKEN = Prepared(
    select(_T.c.budget, _T.c.spent).where(_T.c.id == _T_ID).with_for_update(key_share=True)
)
_SELECT_BALANCE = Prepared(
    select(_A.c.balance).where(_A.c.id == _A_ID).with_for_update(key_share=True)
)
_SELECT_COUNT = Prepared(select(_Q.c.count).where(*_COUNT_KEY).with_for_update(key_share=True))
_SPEND = Prepared(
    update(_T)
    .where(_T.c.id == _T_ID, or_(_T.c.budget.is_(None), _T.c.spent + _AMOUNT <= _T.c.budget))
    .values(spent=_T.c.spent + _AMOUNT, last_used_at=bindparam("at", type_=DateTime(True)))
)
_UNSPEND = Prepared(update(_T).where(_T.c.id == _T_ID).values(spent=_T.c.spent - _AMOUNT))
_PAY = Prepared(
    update(_A)
    .where(_A.c.id == _A_ID, _A.c.balance >= _AMOUNT)
    .values(balance=_A.c.balance - _AMOUNT)
)
_COUNT = Prepared(
    update(_Q)
    .where(*_COUNT_KEY, _Q.c.count + _N <= bindparam("q_limit", type_=Integer()))
    .values(count=_Q.c.count + _N)
)
_UNCOUNT = Prepared(update(_Q).where(*_COUNT_KEY, _Q.c.count >= _N).values(count=_Q.c.count - _N))
_DROP_COUNT = Prepared(delete(_Q).where(*_COUNT_KEY, _Q.c.count == _N))
_NEW_COUNT = Prepared(
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
_LEDGER = Prepared(insert(_L), column_keys=_LEDGER_COLUMNS)
_K = cast(Table, IdempotencyKey.__table__)
_SINCE = bindparam("since", type_=DateTime(True))
_KEY_MATCH = (_K.c.token_id == _T_ID, _K.c.key == bindparam("k", type_=String()))
_SELECT_KEY = Prepared(select(_K.c.item_id).where(*_KEY_MATCH, _K.c.created_at >= _SINCE))
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


def _write_charged_extras(
    connection: Connection, batch: list[ChargeRequest], results: list[ChargeResult]
) -> None:
    """The call records and job-item totals of the charged requests (same transaction)."""
    charged = [r for r, res in zip(batch, results, strict=True) if res is ChargeResult.CHARGED]
    calls = [r.call for r in charged if r.call is not None]
    if calls:
        write_calls(connection, calls, rollup(calls))
    for req in sorted(charged, key=lambda r: r.job_item_id or 0):
        if req.job_item_id is not None:
            _JOB_ITEM_CHARGED.rowcount(connection, {"j_id": req.job_item_id, "amount": req.price})


def _key_params(req: ChargeRequest) -> dict[str, object]:
    return {"t_id": req.token_id, "k": req.idempotency_key, "since": _since(req)}


def _since(req: ChargeRequest) -> datetime:
    return req.key_since if req.key_since is not None else _NO_EXPIRY


def _key_row(req: ChargeRequest) -> dict[str, object]:
    return {
        "token_id": req.token_id,
        "key": req.idempotency_key,
        "item_id": req.item_id,
        "request_id": req.request_id,
        "created_at": req.now,
    }


def _key_result(used_for: str, req: ChargeRequest) -> ChargeResult:
    return ChargeResult.REPLAYED if used_for == req.item_id else ChargeResult.KEY_CONFLICT


def _write_key(connection: Connection, req: ChargeRequest) -> None:
    """Replace an expired row of the key (if any) and write the charge's key row."""
    _DROP_OLD_KEY.rowcount(connection, _key_params(req))
    _NEW_KEY.executemany(connection, [_key_row(req)])


def purge_keys(connection: Connection, before: datetime) -> int:
    """Delete idempotency key rows created before ``before`` (writer thread)."""
    return _PURGE_KEYS.rowcount(connection, {"since": before})


def _ledger_row(req: ChargeRequest) -> dict[str, object]:
    return {
        "account_id": req.account_id,
        "token_id": req.token_id,
        "kind": "charge",
        "amount": -req.price,
        "request_id": req.request_id,
        "item_id": req.item_id,
        "created_at": req.now,
    }


def _integrity_error(connection: Connection) -> type[Exception]:
    error: type[Exception] = connection.dialect.loaded_dbapi.IntegrityError
    return error


def apply_batch(connection: Connection, batch: list[ChargeRequest]) -> list[ChargeResult]:
    """Apply ``batch`` inside the caller's transaction; one result per request, in order.

    Plans from one read of the rows involved, then writes one guarded update per token,
    account and quota counter plus the ledger rows. Raises :class:`StalePlanError`
    (the caller rolls back) if a guard matches no row.
    """
    tokens: dict[int, tuple[int | None, int]] = {}
    for token_id in sorted({r.token_id for r in batch}):
        for budget, spent in _SELECT_TOKEN.rows(connection, {"t_id": token_id}):
            tokens[token_id] = (budget, spent)
    balances: dict[int, int] = {}
    for account_id in sorted({r.account_id for r in batch}):
        for (balance,) in _SELECT_BALANCE.rows(connection, {"a_id": account_id}):
            balances[account_id] = balance
    counts: dict[tuple[int, str], int] = {}
    quota_keys = {(r.token_id, r.day) for r in batch if r.quota is not None and r.day}
    for token_id, day in sorted(quota_keys):
        for (count,) in _SELECT_COUNT.rows(connection, {"t_id": token_id, "q_day": day}):
            counts[(token_id, day)] = count
    keys: dict[tuple[int, str], str] = {}  # (token, key) -> item it was charged for
    for req in batch:
        if req.idempotency_key is not None and (req.token_id, req.idempotency_key) not in keys:
            for (used_for,) in _SELECT_KEY.rows(connection, _key_params(req)):
                keys[(req.token_id, req.idempotency_key)] = used_for

    spend: dict[int, int] = defaultdict(int)
    last_used: dict[int, datetime] = {}
    pay: dict[int, int] = defaultdict(int)
    counted: dict[tuple[int, str], int] = {}
    limits: dict[tuple[int, str], int] = {}
    ledger: list[dict[str, object]] = []
    new_keys: list[ChargeRequest] = []
    results: list[ChargeResult] = []
    for req in batch:
        pair = (req.token_id, req.idempotency_key) if req.idempotency_key is not None else None
        if pair is not None and pair in keys:
            results.append(_key_result(keys[pair], req))
            continue
        key = (req.token_id, req.day) if req.quota is not None and req.day else None
        if key is not None and counts.get(key, 0) + counted.get(key, 0) >= (req.quota or 0):
            results.append(ChargeResult.QUOTA_EXCEEDED)
            continue
        token = tokens.get(req.token_id)
        if token is None or (
            token[0] is not None and token[1] + spend[req.token_id] + req.price > token[0]
        ):
            results.append(ChargeResult.BUDGET_EXHAUSTED)
            continue
        balance = balances.get(req.account_id)
        if balance is None or balance - pay[req.account_id] < req.price:
            results.append(ChargeResult.INSUFFICIENT_BALANCE)
            continue
        spend[req.token_id] += req.price
        last_used[req.token_id] = max(req.now, last_used.get(req.token_id, req.now))
        pay[req.account_id] += req.price
        if key is not None:
            counted[key] = counted.get(key, 0) + 1
            limits[key] = max(limits.get(key, 0), req.quota or 0)
        if pair is not None:
            keys[pair] = req.item_id
            new_keys.append(req)
        ledger.append(_ledger_row(req))
        results.append(ChargeResult.CHARGED)

    for token_id, at in sorted(last_used.items()):
        params = {"t_id": token_id, "amount": spend[token_id], "at": at}
        if _SPEND.rowcount(connection, params) != 1:
            raise StalePlanError(f"token {token_id} changed while its charges were planned")
    for account_id, amount in sorted(pay.items()):
        if _PAY.rowcount(connection, {"a_id": account_id, "amount": amount}) != 1:
            raise StalePlanError(f"account {account_id} changed while its charges were planned")
    for (token_id, day), n in sorted(counted.items()):
        params = {"t_id": token_id, "q_day": day, "n": n, "q_limit": limits[(token_id, day)]}
        if (token_id, day) not in counts:
            try:
                _NEW_COUNT.rowcount(connection, params)
            except _integrity_error(connection) as exc:
                raise StalePlanError(f"quota of token {token_id} appeared meanwhile") from exc
        elif _COUNT.rowcount(connection, params) != 1:
            raise StalePlanError(f"quota of token {token_id} changed while it was planned")
    if ledger:
        _LEDGER.executemany(connection, ledger)
    for req in new_keys:
        try:
            _write_key(connection, req)
        except _integrity_error(connection) as exc:
            raise StalePlanError(f"key of token {req.token_id} appeared meanwhile") from exc
    _write_charged_extras(connection, batch, results)
    return results


def _count_one(connection: Connection, req: ChargeRequest) -> Prepared | None:
    """Count ``req`` against its daily quota unless full (one-by-one path).

    Returns the statement that takes the count back (None when the quota is full).
    """
    params = {"t_id": req.token_id, "q_day": req.day, "n": 1, "q_limit": req.quota}
    if _COUNT.rowcount(connection, params) == 1:
        return _UNCOUNT
    if _SELECT_COUNT.rows(connection, params) or (req.quota or 0) < 1:
        return None
    _NEW_COUNT.rowcount(connection, params)
    return _DROP_COUNT


def apply_each(connection: Connection, batch: list[ChargeRequest]) -> list[ChargeResult]:
    """Apply ``batch`` one request at a time inside the caller's transaction.

    Per request: count the quota (conditional), spend the token's budget (conditional),
    then the account balance (conditional); whatever a later step refuses is given back
    at once. The reference semantics that :func:`apply_batch` reproduces in bulk.
    """
    results: list[ChargeResult] = []
    ledger: list[dict[str, object]] = []
    for req in batch:
        if req.idempotency_key is not None:
            used = _SELECT_KEY.rows(connection, _key_params(req))
            if used:
                results.append(_key_result(used[0][0], req))
                continue
        uncount: Prepared | None = None
        if req.quota is not None and req.day:
            uncount = _count_one(connection, req)
            if uncount is None:
                results.append(ChargeResult.QUOTA_EXCEEDED)
                continue
        counted = {"t_id": req.token_id, "q_day": req.day, "n": 1}
        spend = {"t_id": req.token_id, "amount": req.price, "at": req.now}
        if _SPEND.rowcount(connection, spend) != 1:
            if uncount is not None:
                uncount.rowcount(connection, counted)
            results.append(ChargeResult.BUDGET_EXHAUSTED)
            continue
        if _PAY.rowcount(connection, {"a_id": req.account_id, "amount": req.price}) != 1:
            _UNSPEND.rowcount(connection, spend)
            if uncount is not None:
                uncount.rowcount(connection, counted)
            results.append(ChargeResult.INSUFFICIENT_BALANCE)
            continue
        if req.idempotency_key is not None:
            _write_key(connection, req)  # before the next request of the batch looks
        ledger.append(_ledger_row(req))
        results.append(ChargeResult.CHARGED)
    if ledger:
        _LEDGER.executemany(connection, ledger)
    _write_charged_extras(connection, batch, results)
    return results


def apply_each_retrying(connection: Connection, batch: list[ChargeRequest]) -> list[ChargeResult]:
    """:func:`apply_each`, once more if another process wrote a key or quota row of the
    batch meanwhile (a unique violation): the second pass sees that row and answers
    from it (a replay, or the counter updated). Each pass runs in a savepoint."""
    integrity = _integrity_error(connection)
    try:
        with connection.begin_nested():
            return apply_each(connection, batch)
    except integrity:
        with connection.begin_nested():
            return apply_each(connection, batch)


_Item = tuple[ChargeRequest, "asyncio.Future[ChargeResult]"]


class _RollBack(Exception):
    def __init__(self, result: ChargeResult) -> None:
        super().__init__(result.value)
        self.result = result


class ChargeBatcher:
    """Queues charges and applies them in batches (see the module docstring).

    ``url`` is accepted for compatibility and not used: batching is on when ``db``
    batches writes (file-backed SQLite, PostgreSQL) and :meth:`start` was called.
    """

    def __init__(self, db: Database, url: str | None = None) -> None:
        del url
        self._db = db
        self._pending: list[_Item] = []
        #: Transactions the batching task has applied (charges / this = batch size).
        self.batches_applied = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._runner: asyncio.Task[None] | None = None
        # expired idempotency keys: delete rows created before _purge_before, at most
        # once per PURGE_INTERVAL_SECONDS, once a keyed charge has been seen
        self._purge_before: datetime | None = None
        self._next_purge = time.monotonic() + idempotency.PURGE_INTERVAL_SECONDS

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        """Charge one call; waits until the batch it joins has committed."""
        if request.idempotency_key is not None and request.key_since is not None:
            self._purge_before = request.key_since
        if self._runner is None:
            return await self._charge_alone(request)
        future: asyncio.Future[ChargeResult] = asyncio.get_running_loop().create_future()
        self._pending.append((request, future))
        self._wake.set()
        return await future

    async def _charge_alone(self, request: ChargeRequest) -> ChargeResult:
        await self._purge_if_due()
        try:
            return await self._charge_alone_once(request)
        except IntegrityError:
            if request.idempotency_key is None:
                raise
            # another process wrote the same key meanwhile: its row answers now
            return await self._charge_alone_once(request)

    async def _charge_alone_once(self, request: ChargeRequest) -> ChargeResult:
        key = request.idempotency_key
        try:
            async with self._db.writing() as session:
                if key is not None:
                    used = await idempotency.lookup(session, request.token_id, key, _since(request))
                    if used is not None:
                        raise _RollBack(_key_result(used.item_id, request))
                if request.quota is not None and request.day is not None:
                    counted = await quota_counts.try_consume(
                        session, request.token_id, request.day, request.quota
                    )
                    if not counted:
                        raise _RollBack(ChargeResult.QUOTA_EXCEEDED)
                result = await charge(
                    session,
                    account_id=request.account_id,
                    token_id=request.token_id,
                    price=request.price,
                    request_id=request.request_id,
                    item_id=request.item_id,
                    now=request.now,
                )
                if result is not ChargeResult.CHARGED:
                    raise _RollBack(result)
                if key is not None:
                    await idempotency.record(
                        session,
                        token_id=request.token_id,
                        key=key,
                        item_id=request.item_id,
                        request_id=request.request_id,
                        now=request.now,
                        since=_since(request),
                    )
                if request.call is not None:
                    await add_calls(session, [request.call])
                if request.job_item_id is not None:
                    await session.execute(
                        update(BulkJobItem)
                        .where(BulkJobItem.id == request.job_item_id)
                        .values(charged=BulkJobItem.charged + request.price)
                    )
        except _RollBack as rolled_back:
            return rolled_back.result
        return result

    def start(self) -> None:
        """Start the batching task (when the store batches writes; else one by one)."""
        if self._db.batches_writes and self._runner is None:
            self._stopping = False
            self._runner = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Apply what is queued (bounded wait), then stop the task."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._stopping = True
        self._wake.set()
        with contextlib.suppress(TimeoutError):  # wait_for cancels the runner then
            await asyncio.wait_for(runner, STOP_TIMEOUT)
        left, self._pending = self._pending, []
        for _, future in left:  # charges still queued never ran
            if not future.done():
                future.set_exception(RuntimeError("the server is shutting down; retry"))

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                await self._apply(batch)
            await self._purge_if_due()
            if self._stopping:
                return

    async def _purge_if_due(self) -> None:
        """Delete expired idempotency keys, at most once per purge interval."""
        before = self._purge_before
        if before is None or time.monotonic() < self._next_purge:
            return
        self._purge_before = None
        self._next_purge = time.monotonic() + idempotency.PURGE_INTERVAL_SECONDS
        try:
            if self._db.batches_writes:
                await self._db.write_batch(purge_keys, before)
            else:
                async with self._db.writing() as session:
                    await idempotency.purge(session, before)
        except Exception:  # cleanup only: expired keys are ignored anyway
            log.warning("could not delete expired idempotency keys", exc_info=True)

    async def _apply(self, batch: list[_Item]) -> None:
        requests = [req for req, _ in batch]
        self.batches_applied += 1
        try:
            try:
                results = await self._db.write_batch(apply_batch, requests)
            except StalePlanError:
                results = await self._db.write_batch(apply_each_retrying, requests)
        except Exception as exc:  # the whole batch rolled back: nobody was charged
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
