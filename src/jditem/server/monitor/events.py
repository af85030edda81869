"""Where a change event is born (SPEC §6.3): with its change point, in the same transaction.

:func:`.history.record` appends a change point when an account's tracked state of an
item changed; when that point has field changes (never the first observation, which is a
baseline) it calls :func:`write` on the same connection, inside the same transaction —
the charge's group commit, or the short transaction of a free observation. So an event
exists exactly when its point does: a crash keeps both or neither.

:func:`write`:

1. classifies the change (:func:`.kinds.classify`); for a price drop it reads the
   account's points of the item over the longest ``new_low`` window (180 days) for the
   lowest known prices (:func:`.kinds.lowest_known`);
2. finds the account's watch lists holding the item now, and per list what its rules
   make of it (:func:`.rules.decide` for kinds and thresholds; the re-arm cooldown is
   claimed by :data:`CLAIM`, one atomic conditional upsert per (list, item, kind):
   it stores the time and matches only when the last notification is at least the
   cooldown old, so two writers can never both notify within one cooldown);
3. inserts the event (``change_events``; ``body`` is the wire JSON, times in UTC) and
   one ``change_event_lists`` row per list (with its ``notify`` flag);
4. hands the event to :func:`after_event` (the hook for push delivery, see there).

**Ids and order.** The id is ``evt_`` + a ULID of the observation time, but never
lower than the account's newest event id (then the newest plus one): an account's event
writes are serialized by its ``accounts`` row lock (:mod:`.history` explains; SQLite has
one writer), so ids grow in commit order and a reader paging by id (the feed's cursor)
never finds an earlier id committed after it read past it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import (
    Connection,
    Integer,
    String,
    Table,
    bindparam,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from jditem.protocol import monitoring as wire
from jditem.protocol.monitoring import ChangeKind, WatchRules
from jditem.server.clock import db_time
from jditem.server.ids import new_ulid
from jditem.server.monitor import kinds, outbox
from jditem.server.monitor.rules import decide
from jditem.server.monitor.tracked import ChangePoint, TrackedState, decode
from jditem.server.store.event_tables import ChangeEventListRow, ChangeEventRow, WatchCooldownRow
from jditem.server.store.tables import HistoryPoint
from jditem.server.store.types import UtcDateTime
from jditem.server.store.watch_tables import WatchItemRow, WatchListRow
from jditem.server.store.writer import Prepared

__all__ = ["after_event", "event_id_after", "parse_rules", "write"]

log = logging.getLogger("jditem.server.monitor.events")

_E = cast(Table, ChangeEventRow.__table__)
_EL = cast(Table, ChangeEventListRow.__table__)
_C = cast(Table, WatchCooldownRow.__table__)
_H = cast(Table, HistoryPoint.__table__)
_WI = cast(Table, WatchItemRow.__table__)
_WL = cast(Table, WatchListRow.__table__)
_ACCOUNT = bindparam("a", type_=Integer())
_ITEM = bindparam("i", type_=String())

LAST_ID = Prepared(select(func.max(_E.c.id)).where(_E.c.account_id == _ACCOUNT))
_START = bindparam("start", type_=UtcDateTime())
_OF_ITEM = (_H.c.account_id == _ACCOUNT, _H.c.item_id == _ITEM)
#: The points in effect from ``start`` on: the one in effect at ``start`` and all later.
POINTS = Prepared(
    select(_H.c.valid_from, _H.c.state)
    .where(
        *_OF_ITEM,
        _H.c.seq
        >= func.coalesce(
            select(func.max(_H.c.seq))
            .where(*_OF_ITEM, _H.c.valid_from <= _START)
            .scalar_subquery(),
            literal_column("0"),
        ),
    )
    .order_by(_H.c.seq)
)
LISTS = Prepared(
    select(_WL.c.id, _WL.c.name, _WL.c.rules)
    .select_from(_WI.join(_WL, _WL.c.id == _WI.c.list_id))
    .where(_WI.c.account_id == _ACCOUNT, _WI.c.item_id == _ITEM)
    .order_by(_WL.c.id)
)
INSERT_EVENT = Prepared(
    insert(_E), column_keys=("id", "account_id", "item_id", "observed_at", "body")
)
INSERT_LISTS = Prepared(insert(_EL), column_keys=("list_id", "event_id", "notify"))


def _claim(dialect: object) -> Prepared:
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = make(_C).values(
        list_id=bindparam("l", type_=Integer()),
        item_id=_ITEM,
        kind=bindparam("k", type_=String()),
        notified_at=bindparam("at", type_=UtcDateTime()),
    )
    return Prepared(
        statement.on_conflict_do_update(
            index_elements=[_C.c.list_id, _C.c.item_id, _C.c.kind],
            set_={"notified_at": statement.excluded.notified_at},
            where=_C.c.notified_at <= bindparam("rearm", type_=UtcDateTime()),
        )
    )


#: Claim a kind's cooldown: writes ``at`` and matches (rowcount 1) only when the kind
#: never notified for the (list, item) or last did at or before ``rearm`` (at - cooldown).
CLAIM = {"postgresql": _claim("postgresql"), "sqlite": _claim("sqlite")}

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80


def event_id_after(ms: int, last: str | None) -> str:
    """A new event id for the time ``ms``, greater than ``last`` (the account's newest)."""
    candidate = kinds.new_event_id(ms)
    if last is None or candidate > last:
        return candidate
    value = 0
    for char in last.removeprefix(kinds.EVENT_ID_PREFIX):
        value = value * 32 + _CROCKFORD.index(char)
    value += 1
    low = value & ((1 << _RANDOM_BITS) - 1)
    return kinds.EVENT_ID_PREFIX + new_ulid(value >> _RANDOM_BITS, randbits=lambda _bits: low)


def parse_rules(text: str | None) -> WatchRules:
    """A list's stored rules (``None``: the defaults, every kind, 6 h cooldown). Unreadable
    rules (not written by this version) count as the defaults, logged: an event is never
    lost, nor a charge failed, for them."""
    if text is None:
        return WatchRules()
    try:
        return WatchRules.model_validate_json(text)
    except ValueError:
        log.warning("a watch list's stored rules are unreadable; the defaults apply")
        return WatchRules()


def write(
    connection: Connection,
    account_id: int,
    item_id: str,
    prev: TrackedState,
    state: TrackedState,
    observed_at: datetime,
    point_from: datetime,
) -> wire.ChangeEvent | None:
    """Write the event of the change ``prev`` → ``state`` (see the module); ``None`` when
    it changed no tracked field. ``point_from`` is the new point's ``valid_from``."""
    found = kinds.classify(prev, state)
    if not found.is_event:
        return None
    if ChangeKind.PRICE_DROP in found.kinds:
        longest = timedelta(days=max(kinds.WINDOWS_DAYS))
        params = {"a": account_id, "i": item_id, "start": point_from - longest}
        points = [
            ChangePoint(db_time(at), db_time(at), known)
            for at, text in POINTS.rows(connection, params)
            if (known := _readable(text)) is not None
        ]
        found = kinds.classify(prev, state, kinds.lowest_known(points, point_from))
    claim = CLAIM["postgresql" if connection.dialect.name == "postgresql" else "sqlite"]
    matches = []
    for list_id, name, text in LISTS.rows(connection, {"a": account_id, "i": item_id}):
        rules = parse_rules(text)
        rearm = observed_at - timedelta(seconds=rules.cooldown_seconds)
        notify = [
            str(kind)
            for kind in decide(rules, found, {}, observed_at)
            if claim.rowcount(
                connection,
                {"l": list_id, "i": item_id, "k": str(kind), "at": observed_at, "rearm": rearm},
            )
            == 1
        ]
        matches.append(
            wire.RuleMatch(list_id=list_id, name=name, notify=bool(notify), kinds=notify)
        )
    last = LAST_ID.rows(connection, {"a": account_id})[0][0]
    event_id = event_id_after(int(observed_at.timestamp() * 1000), last)
    event = found.to_wire(
        event_id, item_id, observed_at, [m.list_id for m in matches], state.title, matches
    )
    INSERT_EVENT.executemany(
        connection,
        [
            {
                "id": event_id,
                "account_id": account_id,
                "item_id": item_id,
                "observed_at": observed_at,
                "body": json.dumps(event.to_wire(), ensure_ascii=False, separators=(",", ":")),
            }
        ],
    )
    if matches:
        INSERT_LISTS.executemany(
            connection,
            [
                {"list_id": int(m.list_id), "event_id": event_id, "notify": m.notify}
                for m in matches
            ],
        )
    after_event(connection, account_id, event)
    return event


def _readable(text: str) -> TrackedState | None:
    try:
        return decode(text)
    except ValueError:  # a point of a newer layout: left out of the lowest prices
        return None


def after_event(connection: Connection, account_id: int, event: wire.ChangeEvent) -> None:
    """Push delivery: called with every event right after its insert, on the same
    connection and inside the same transaction.

    The webhook outbox rows (SPEC §6.3) are written here — one per enabled endpoint of
    ``account_id`` whose lists and kinds select the lists whose rules notified
    (:func:`.outbox.enqueue`) — so the outbox commits with the event or not at all and a
    crash loses nothing. An event no list's rules notify goes to the pull feed only.
    """
    notified = [match for match in event.rule_matches if match.notify]
    if not notified:
        return
    outbox.enqueue(
        connection,
        account_id,
        event.id,
        [match.list_id for match in notified],
        sorted({kind for match in notified for kind in match.kinds}),
        outbox.message(outbox.CHANGE_TYPE, event.observed_at, event.to_wire()),
        now=event.observed_at,
    )
