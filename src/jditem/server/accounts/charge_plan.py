"""Deciding a group of charges in ONE transaction, exactly as one by one would.

:func:`apply_batch` reads the spend, budget, balance, quota counts and idempotency keys
of the tokens and accounts involved, decides each charge *in arrival order* exactly as
one-by-one conditional updates would, then writes one guarded ``UPDATE`` per token, per
account and per quota counter, and the ledger rows. The transaction holds the rows it
planned from (SQLite's write lock from ``BEGIN IMMEDIATE``; row locks on PostgreSQL), so
if a guard ever matches no row anyway it raises :class:`StalePlanError` and the caller
applies the batch again with :func:`apply_each` — the reference semantics. Either way:
no overspend, balance never negative, Σ ledger = balance change = Σ token spend, and a
refused charge consumes nothing (no quota, budget or balance).

A charge with an idempotency key (:mod:`.idempotency`) whose token already holds a valid
row for the key is not applied: it answers REPLAYED (same item) or KEY_CONFLICT (another
item). Within a batch the first charge of a key wins and the later ones replay, exactly
as one by one.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import Connection

from jditem.server.accounts import list_spend
from jditem.server.accounts.charge_sql import (
    COUNT,
    DROP_COUNT,
    LEDGER,
    NEW_COUNT,
    PAY,
    SELECT_BALANCE,
    SELECT_COUNT,
    SELECT_KEY,
    SELECT_TOKEN,
    SPEND,
    UNCOUNT,
    UNSPEND,
    integrity_error,
    key_params,
    key_result,
    ledger_row,
    write_charged_extras,
    write_key,
)
from jditem.server.accounts.charging import ChargeRequest, ChargeResult
from jditem.server.store.writer import Prepared

#: Tries of one quota count whose row another transaction creates or changes meanwhile.
COUNT_ROUNDS = 3


class StalePlanError(Exception):
    """A guarded batch update matched no row: the batch is applied one by one instead."""


def apply_batch(connection: Connection, batch: list[ChargeRequest]) -> list[ChargeResult]:
    """Apply ``batch`` inside the caller's transaction; one result per request, in order.

    Plans from one read of the rows involved, then writes one guarded update per token,
    account and quota counter plus the ledger rows. Raises :class:`StalePlanError`
    (the caller rolls back) if a guard matches no row.
    """
    tokens: dict[int, tuple[int | None, int]] = {}
    for token_id in sorted({r.token_id for r in batch}):
        for budget, spent in SELECT_TOKEN.rows(connection, {"t_id": token_id}):
            tokens[token_id] = (budget, spent)
    balances: dict[int, int] = {}
    for account_id in sorted({r.account_id for r in batch}):
        for (balance,) in SELECT_BALANCE.rows(connection, {"a_id": account_id}):
            balances[account_id] = balance
    counts: dict[tuple[int, str], int] = {}
    quota_keys = {(r.token_id, r.day) for r in batch if r.quota is not None and r.day}
    for token_id, day in sorted(quota_keys):
        for (count,) in SELECT_COUNT.rows(connection, {"t_id": token_id, "q_day": day}):
            counts[(token_id, day)] = count
    lists: dict[tuple[int, str], tuple[int, int | None]] = {}  # (list, day) -> budget, spent
    for list_id, day in sorted({_list_key(r) for r in batch if r.watch_list_id is not None}):
        found = list_spend.read(connection, list_id, day)
        if found is not None:
            lists[(list_id, day)] = found
    keys: dict[tuple[int, str], str] = {}  # (token, key) -> item it was charged for
    for req in batch:
        if req.idempotency_key is not None and (req.token_id, req.idempotency_key) not in keys:
            for (used_for,) in SELECT_KEY.rows(connection, key_params(req)):
                keys[(req.token_id, req.idempotency_key)] = used_for

    spend: dict[int, int] = defaultdict(int)
    last_used: dict[int, datetime] = {}
    pay: dict[int, int] = defaultdict(int)
    counted: dict[tuple[int, str], int] = {}
    limits: dict[tuple[int, str], int] = {}
    ledger: list[dict[str, object]] = []
    new_keys: list[ChargeRequest] = []
    list_spent: dict[tuple[int, str], list[int]] = {}  # (list, day) -> [amount, checks]
    results: list[ChargeResult] = []
    for req in batch:
        pair = (req.token_id, req.idempotency_key) if req.idempotency_key is not None else None
        if pair is not None and pair in keys:
            results.append(key_result(keys[pair], req))
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
        watched = _list_key(req) if req.watch_list_id is not None else None
        if watched is not None:
            budget, spent = lists.get(watched, (-1, None))
            planned = list_spent.setdefault(watched, [0, 0])
            if (spent or 0) + planned[0] + req.price > budget:
                results.append(ChargeResult.LIST_BUDGET_EXHAUSTED)
                continue
            planned[0] += req.price
            planned[1] += 1
        spend[req.token_id] += req.price
        last_used[req.token_id] = max(req.now, last_used.get(req.token_id, req.now))
        pay[req.account_id] += req.price
        if key is not None:
            counted[key] = counted.get(key, 0) + 1
            limits[key] = max(limits.get(key, 0), req.quota or 0)
        if pair is not None:
            keys[pair] = req.item_id
            new_keys.append(req)
        ledger.append(ledger_row(req))
        results.append(ChargeResult.CHARGED)

    for token_id, at in sorted(last_used.items()):
        params = {"t_id": token_id, "amount": spend[token_id], "at": at}
        if SPEND.rowcount(connection, params) != 1:
            raise StalePlanError(f"token {token_id} changed while its charges were planned")
    for account_id, amount in sorted(pay.items()):
        if PAY.rowcount(connection, {"a_id": account_id, "amount": amount}) != 1:
            raise StalePlanError(f"account {account_id} changed while its charges were planned")
    for (token_id, day), n in sorted(counted.items()):
        params = {"t_id": token_id, "q_day": day, "n": n, "q_limit": limits[(token_id, day)]}
        if (token_id, day) not in counts:
            try:
                NEW_COUNT.rowcount(connection, params)
            except integrity_error(connection) as exc:
                raise StalePlanError(f"quota of token {token_id} appeared meanwhile") from exc
        elif COUNT.rowcount(connection, params) != 1:
            raise StalePlanError(f"quota of token {token_id} changed while it was planned")
    for (list_id, day), (amount, checks) in sorted(list_spent.items()):
        if not checks:
            continue
        bound = list_spend.params(list_id, day, amount, checks)
        if lists[(list_id, day)][1] is None:
            try:
                list_spend.NEW.rowcount(connection, bound)
            except integrity_error(connection) as exc:
                raise StalePlanError(f"spend of watch list {list_id} appeared meanwhile") from exc
        elif list_spend.ADD.rowcount(connection, bound) != 1:
            raise StalePlanError(f"watch list {list_id} changed while it was planned")
    if ledger:
        LEDGER.executemany(connection, ledger)
    for req in new_keys:
        try:
            write_key(connection, req)
        except integrity_error(connection) as exc:
            raise StalePlanError(f"key of token {req.token_id} appeared meanwhile") from exc
    try:
        write_charged_extras(connection, batch, results)
    except integrity_error(connection) as exc:  # e.g. a history point appeared meanwhile
        raise StalePlanError("a row written with the charges appeared meanwhile") from exc
    return results


def count_one(connection: Connection, req: ChargeRequest) -> Prepared | None:
    """Count ``req`` against its daily quota unless full (one-by-one path).

    Returns the statement that takes the count back (None when the quota is full). On
    PostgreSQL another transaction may create or change the row between the UPDATE and
    the SELECT: a row found with room left is counted again (the SELECT's lock keeps it).
    """
    params = {"t_id": req.token_id, "q_day": req.day, "n": 1, "q_limit": req.quota}
    quota = req.quota or 0
    for _ in range(COUNT_ROUNDS):
        if COUNT.rowcount(connection, params) == 1:
            return UNCOUNT
        row = SELECT_COUNT.rows(connection, params)
        if row and row[0][0] + 1 > quota:
            return None
        if not row:
            if quota < 1:
                return None
            NEW_COUNT.rowcount(connection, params)
            return DROP_COUNT
    return None


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
            used = SELECT_KEY.rows(connection, key_params(req))
            if used:
                results.append(key_result(used[0][0], req))
                continue
        uncount: Prepared | None = None
        if req.quota is not None and req.day:
            uncount = count_one(connection, req)
            if uncount is None:
                results.append(ChargeResult.QUOTA_EXCEEDED)
                continue
        counted = {"t_id": req.token_id, "q_day": req.day, "n": 1}
        spend = {"t_id": req.token_id, "amount": req.price, "at": req.now}
        if SPEND.rowcount(connection, spend) != 1:
            if uncount is not None:
                uncount.rowcount(connection, counted)
            results.append(ChargeResult.BUDGET_EXHAUSTED)
            continue
        if PAY.rowcount(connection, {"a_id": req.account_id, "amount": req.price}) != 1:
            UNSPEND.rowcount(connection, spend)
            if uncount is not None:
                uncount.rowcount(connection, counted)
            results.append(ChargeResult.INSUFFICIENT_BALANCE)
            continue
        if req.watch_list_id is not None and not list_spend.add_one(connection, req):
            list_spend.refund(connection, req)
            UNSPEND.rowcount(connection, spend)
            if uncount is not None:
                uncount.rowcount(connection, counted)
            results.append(ChargeResult.LIST_BUDGET_EXHAUSTED)
            continue
        if req.idempotency_key is not None:
            write_key(connection, req)  # before the next request of the batch looks
        ledger.append(ledger_row(req))
        results.append(ChargeResult.CHARGED)
    if ledger:
        LEDGER.executemany(connection, ledger)
    write_charged_extras(connection, batch, results)
    return results


def apply_each_retrying(connection: Connection, batch: list[ChargeRequest]) -> list[ChargeResult]:
    """:func:`apply_each`, once more if another process wrote a key or quota row of the
    batch meanwhile (a unique violation): the second pass sees that row and answers
    from it (a replay, or the counter updated). Each pass runs in a savepoint."""
    integrity = integrity_error(connection)
    try:
        with connection.begin_nested():
            return apply_each(connection, batch)
    except integrity:
        with connection.begin_nested():
            return apply_each(connection, batch)


def _list_key(req: ChargeRequest) -> tuple[int, str]:
    """The watch list and local day whose spend a watch check's charge adds to."""
    assert req.watch_list_id is not None
    assert req.day is not None
    return req.watch_list_id, req.day
