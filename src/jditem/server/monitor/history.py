"""Writing an account's history of an item (SPEC §6.1): observations folded into points.

Every code-0 product an account receives is a :class:`Seen` (made by :func:`seen_of`
from the answer's payload). :func:`record` folds observations into table
``item_history`` inside the caller's transaction — the charge's own group commit for a
charged call (:mod:`jditem.server.accounts.charge_sql`), a short transaction of its own
for a free one (an idempotent replay, a price of 0), or the flush of confirmations that
:mod:`.history_writer` let wait (:func:`record_deferred`):

* the common case, the state did not change, is ONE conditional ``UPDATE`` that moves the
  current point's ``last_confirmed_at`` — it matches only when the (account, item)'s
  newest point has the observation's digest;
* otherwise the newest point is read, :func:`~.tracked.observe` decides, and a new point
  is appended with the next ``seq`` (a masked price carries the last price shown); a
  point with field changes also gets its change event, same transaction
  (:func:`.events.write`; the first point is a baseline, never an event).

**No duplicate points under concurrency.** Two writers of the same (account, item) must
not both read "the newest point is #n" and both append. SQLite has one writer at a time
(``BEGIN IMMEDIATE``). On PostgreSQL the writes of one account are serialized by its
``accounts`` row: a charge's transaction already holds it (``FOR NO KEY UPDATE`` when it
plans, or the guarded balance ``UPDATE``), and a free observation takes the same lock
first (``lock_accounts``); READ COMMITTED then shows each writer the point the previous
one committed. The unique key (account, item, seq) backs that up: a second point #n+1
can never be stored — the transaction fails instead (and a charge batch is applied
again, one by one). Locks are taken in one order (tokens, then accounts by id), as the
charges take them, so this adds no deadlock.

**Cost on the hot path.** The tracked state is computed once per stored result, not per
call (:func:`~.tracked.tracked_state_json` keyed by the cached serialized payload); an
unchanged observation is one indexed ``UPDATE``, and the confirmations of a hot item are
coalesced into one per flush (:mod:`.history_writer`; ``benchmarks/monitoring_core.py``
measures the throughput with history on vs off).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Integer,
    String,
    Table,
    bindparam,
    case,
    func,
    insert,
    select,
    update,
)

from jditem.server.clock import db_time
from jditem.server.monitor import events
from jditem.server.monitor.tracked import (
    TrackedState,
    decode,
    observe,
    tracked_state,
    tracked_state_json,
)
from jditem.server.store.tables import Account, HistoryPoint
from jditem.server.store.types import UtcDateTime
from jditem.server.store.writer import Prepared

__all__ = ["Seen", "record", "record_deferred", "record_free", "seen_of"]

log = logging.getLogger("jditem.server.monitor.history")

_H = cast(Table, HistoryPoint.__table__)
_NEWEST = _H.alias("newest")
_A = cast(Table, Account.__table__)
_ACCOUNT = bindparam("a", type_=Integer())
_ITEM = bindparam("i", type_=String())
_AT = bindparam("at", type_=UtcDateTime())
_MAX_SEQ = (
    select(func.max(_NEWEST.c.seq))
    .where(_NEWEST.c.account_id == _ACCOUNT, _NEWEST.c.item_id == _ITEM)
    .scalar_subquery()
)
_IS_NEWEST = (_H.c.account_id == _ACCOUNT, _H.c.item_id == _ITEM, _H.c.seq == _MAX_SEQ)
#: Move the newest point's ``last_confirmed_at`` (never backwards) if it has this digest.
CONFIRM = Prepared(
    update(_H)
    .where(*_IS_NEWEST, _H.c.digest == bindparam("d", type_=String()))
    .values(
        last_confirmed_at=case((_H.c.last_confirmed_at < _AT, _AT), else_=_H.c.last_confirmed_at)
    )
)
NEWEST = Prepared(
    select(_H.c.seq, _H.c.state, _H.c.valid_from, _H.c.last_confirmed_at).where(*_IS_NEWEST)
)
APPEND = Prepared(
    insert(_H),
    column_keys=(
        "account_id",
        "item_id",
        "seq",
        "valid_from",
        "last_confirmed_at",
        "digest",
        "state",
    ),
)
#: The lock a charge holds on the account row (see the module docstring).
LOCK_ACCOUNT = Prepared(
    select(_A.c.id)
    .where(_A.c.id == bindparam("a_id", type_=Integer()))
    .with_for_update(key_share=True)
)


@dataclass(frozen=True, slots=True)
class Seen:
    """One code-0 product an account received at ``at``: the observation of its state."""

    account_id: int
    item_id: str
    state: TrackedState
    at: datetime


def seen_of(
    account_id: int, item_id: str, payload: Any, body: bytes | None, at: datetime
) -> Seen | None:
    """The observation of a code-0 answer; ``None`` (logged) when its payload has no state.

    ``body`` is the payload serialized once per stored result (the memo's key); without
    it the payload is normalized afresh.
    """
    try:
        state = tracked_state_json(body) if body is not None else tracked_state(payload)
    except Exception:  # history never fails a call: the answer goes out regardless
        log.warning("item %s: no tracked state in its payload; history skipped", item_id)
        return None
    return Seen(account_id, item_id, state, at)


def record(
    connection: Connection,
    seen: Sequence[Seen],
    *,
    lock_accounts: bool = False,
    deferred: bool = False,
) -> None:
    """Fold ``seen`` into the history, in order, inside the caller's transaction.

    ``lock_accounts``: take the accounts' row locks first (a transaction that is not a
    charge; a charge holds them already). See the module docstring. ``deferred``: the
    observations are confirmations written late (:mod:`.history_writer`): one older than
    the newest point's start is dropped, not appended.
    """
    if lock_accounts:
        for account_id in sorted({s.account_id for s in seen}):
            LOCK_ACCOUNT.rows(connection, {"a_id": account_id})
    for observation in _collapsed(seen):
        _fold(connection, observation, deferred)


def _collapsed(seen: Sequence[Seen]) -> list[Seen]:
    """``seen`` without the observations a later one of the same (account, item) and the
    same state supersedes before any other state of it: only the last confirmation of a
    run of equal states is written (a hot item's concurrent calls share one ``UPDATE``)."""
    kept: list[Seen] = []
    last: dict[tuple[int, str], int] = {}  # (account, item) -> index in kept
    for observation in seen:
        key = (observation.account_id, observation.item_id)
        index = last.get(key)
        if index is not None and kept[index].state.digest == observation.state.digest:
            if observation.at > kept[index].at:
                kept[index] = observation
            continue
        last[key] = len(kept)
        kept.append(observation)
    return kept


def record_free(connection: Connection, seen: Sequence[Seen]) -> None:
    """:func:`record` in a transaction of its own (no charge): takes the accounts' locks."""
    record(connection, seen, lock_accounts=True)


def record_deferred(connection: Connection, seen: Sequence[Seen]) -> None:
    """:func:`record_free` of confirmations written late (``deferred``)."""
    record(connection, seen, lock_accounts=True, deferred=True)


def _fold(connection: Connection, seen: Seen, deferred: bool = False) -> None:
    key = {"a": seen.account_id, "i": seen.item_id}
    if CONFIRM.rowcount(connection, {**key, "d": seen.state.digest, "at": seen.at}) == 1:
        return
    newest = NEWEST.rows(connection, key)
    seq, prev, at = 0, None, seen.at
    if newest:
        seq, text, started, confirmed = newest[0]
        if deferred and db_time(started) > seen.at:  # a later change is stored: old news
            return
        prev = _decoded(text, seen)
        at = max(at, db_time(confirmed))  # a point never starts before the last one was seen
    observation = observe(prev, seen.state)
    if not observation.new_point:  # the newest point holds this state already
        return
    state = observation.state
    row = {
        "account_id": seen.account_id,
        "item_id": seen.item_id,
        "seq": seq + 1,
        "valid_from": at,
        "last_confirmed_at": at,
        "digest": state.digest,
        "state": state.encode(),
    }
    APPEND.executemany(connection, [row])
    if prev is not None and observation.changes:  # a change, not a baseline: its event
        events.write(connection, seen.account_id, seen.item_id, prev, state, seen.at, at)


def _decoded(text: str, seen: Seen) -> TrackedState | None:
    try:
        return decode(text)
    except ValueError:  # unreadable (a newer version's layout?): start afresh, keep the rest
        log.warning(
            "item %s: account %s's newest history point is unreadable; a new baseline follows",
            seen.item_id,
            seen.account_id,
        )
        return None
