"""History is written for every code-0 product an account receives (SPEC §6.1), on a real
server on loopback and both store profiles: a baseline point, confirmations of the same
state, a new point per change, one account never in another's history, and no duplicate
point when writers of the same item race."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from tests.support.clock import FrozenClock
from tests.support.live_server import LiveServer, live_server
from tests.support.monitoring import ITEM, T0, TTL, ScriptedCollector, call

from jditem.server.clock import db_time
from jditem.server.collectors.drift import drifted_payload
from jditem.server.context import ServerContext
from jditem.server.monitor import history
from jditem.server.monitor.tracked import decode, tracked_state

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def collector() -> ScriptedCollector:
    scripted = ScriptedCollector()
    scripted.set(ITEM, "699.00")
    return scripted


@pytest.fixture
def server(clock: FrozenClock, collector: ScriptedCollector) -> Iterator[LiveServer]:
    with live_server(clock=clock, collector=collector, result_ttl_seconds=TTL) as live:
        yield live


def points(
    live: LiveServer, account: str, item: str = ITEM, *, flush: bool = True
) -> list[tuple[Any, ...]]:
    """(seq, valid_from, last_confirmed_at, state) of ``account``'s history of ``item``
    (deferred confirmations written first, unless ``flush`` is off)."""
    if flush:
        live.run(lambda ctx: ctx.admission.history.flush())
    rows = live.rows(
        "SELECT h.seq, h.valid_from, h.last_confirmed_at, h.state FROM item_history h "
        "JOIN accounts a ON a.id = h.account_id WHERE a.name = :a AND h.item_id = :i "
        "ORDER BY h.seq",
        a=account,
        i=item,
    )
    return [(seq, db_time(v), db_time(c), decode(s)) for seq, v, c, s in rows]


async def deferred(ctx: ServerContext) -> int:
    """Confirmations waiting for the history writer's next flush."""
    return ctx.admission.history.pending


def test_a_baseline_then_confirmations_then_a_point_per_change(
    server: LiveServer, clock: FrozenClock, collector: ScriptedCollector
) -> None:
    token = server.make_token("acme")
    call(server, token)
    [(seq, since, confirmed, state)] = points(server, "acme")
    assert (seq, since, confirmed, str(state.price_current)) == (1, T0, T0, "699.00")

    clock.set(T0 + timedelta(seconds=10))  # the cached result: a confirmation, no new point
    call(server, token)
    [(_, since, confirmed, _)] = points(server, "acme")
    assert (since, confirmed) == (T0, T0 + timedelta(seconds=10))

    collector.set(ITEM, "649.00")
    later = T0 + timedelta(seconds=TTL + 5)  # the cache expired: collected again
    clock.set(later)
    call(server, token)
    history_rows = points(server, "acme")
    assert [(p[0], p[1], str(p[3].price_current)) for p in history_rows] == [
        (1, T0, "699.00"),
        (2, later, "649.00"),
    ]
    charges = server.scalar(
        "SELECT COUNT(*) FROM ledger WHERE kind = 'charge' AND item_id = :i", i=ITEM
    )
    assert charges == 3  # every call charged once; history rode in the charges


def test_a_masked_price_is_a_point_that_keeps_the_last_price_shown(
    server: LiveServer, clock: FrozenClock, collector: ScriptedCollector
) -> None:
    token = server.make_token("acme")
    call(server, token)
    collector.set(ITEM, "6??")
    clock.set(T0 + timedelta(seconds=TTL + 1))
    call(server, token)
    collector.set(ITEM, "699.00")
    clock.set(T0 + timedelta(seconds=2 * TTL + 2))
    call(server, token)
    states = [p[3] for p in points(server, "acme")]
    assert [(s.price_current, s.price_masked) for s in states] == [
        (states[0].price_current, False),
        (None, True),
        (states[0].price_current, False),
    ]
    assert states[1].known_price == states[0].price_current  # carried through the mask


def test_each_account_has_its_own_history(
    server: LiveServer, clock: FrozenClock, collector: ScriptedCollector
) -> None:
    first, second = server.make_token("first"), server.make_token("second")
    call(server, first)
    collector.set(ITEM, "599.00")
    clock.set(T0 + timedelta(seconds=TTL + 1))
    call(server, second)  # collected again: the second account's first sight is 599
    assert [str(p[3].price_current) for p in points(server, "first")] == ["699.00"]
    assert [str(p[3].price_current) for p in points(server, "second")] == ["599.00"]


def test_a_free_replay_confirms_the_point(server: LiveServer, clock: FrozenClock) -> None:
    token = server.make_token("acme")
    call(server, token, **{"Idempotency-Key": "history-replay-1"})
    clock.set(T0 + timedelta(seconds=20))
    body = call(server, token, **{"Idempotency-Key": "history-replay-1"})
    assert body["data"]["product"]["skuId"] == ITEM
    [(_, _, confirmed, _)] = points(server, "acme")
    assert confirmed == T0 + timedelta(seconds=20)
    assert server.scalar("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'") == 1


def test_a_free_price_still_writes_history(
    clock: FrozenClock, collector: ScriptedCollector
) -> None:
    with live_server(clock=clock, collector=collector, price_units=0) as live:
        token = live.make_token("acme")
        call(live, token)
        assert len(points(live, "acme")) == 1
        assert live.scalar("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'") == 0


def test_history_off_writes_nothing(clock: FrozenClock, collector: ScriptedCollector) -> None:
    with live_server(clock=clock, collector=collector, history=False) as live:
        call(live, live.make_token("acme"))
        assert points(live, "acme") == []


def test_racing_writers_of_one_item_append_one_point(server: LiveServer) -> None:
    """Writers of the same (account, item) on separate connections (the scale-out race
    between processes): each round of a new state adds exactly one point."""
    server.make_token("acme")
    account_id = server.scalar("SELECT id FROM accounts WHERE name = 'acme'")
    prices = ["699.00", "649.00", "6??", "649.00", "599.00"]

    async def round_of(ctx: ServerContext, price: str, n: int) -> None:
        payload = drifted_payload(ITEM, T0)
        payload["priceFloor"] = {"price": price, "ext": {"jdPrice": price}}
        seen = history.Seen(account_id, ITEM, tracked_state(payload), T0 + timedelta(minutes=n))
        writes = [ctx.db.write_batch(history.record_free, [seen]) for _ in range(4)]
        await asyncio.gather(*writes)

    for n, price in enumerate(prices):
        server.run(lambda ctx, price=price, n=n: round_of(ctx, price, n))
    rows = points(server, "acme")
    assert [p[0] for p in rows] == [1, 2, 3, 4, 5]
    assert [p[3].price_current for p in rows][2] is None
    assert [p[2] for p in rows] == [T0 + timedelta(minutes=n) for n in range(5)]


def test_the_unique_key_refuses_a_second_point_with_the_same_number(server: LiveServer) -> None:
    server.make_token("acme")
    account_id = server.scalar("SELECT id FROM accounts WHERE name = 'acme'")
    row = {"a": account_id, "i": ITEM, "t": T0, "d": "0" * 32, "s": "[]"}
    insert = (
        "INSERT INTO item_history (account_id, item_id, seq, valid_from, last_confirmed_at, "
        "digest, state) VALUES (:a, :i, 1, :t, :t, :d, :s)"
    )
    server.execute(insert, **row)
    with pytest.raises(Exception, match=r"(?i)unique"):
        server.execute(insert, **row)


#: A flush interval no test outlasts: only the test's own flushes (and shutdown) write.
NO_TIMED_FLUSH = {"history_flush_seconds": 3600.0}


def test_confirmations_wait_for_the_flush_and_a_change_writes_them_first(
    clock: FrozenClock, collector: ScriptedCollector
) -> None:
    with live_server(
        clock=clock, collector=collector, result_ttl_seconds=TTL, **NO_TIMED_FLUSH
    ) as server:
        _confirmations_wait_then_a_change_writes_them_first(server, clock, collector)


def _confirmations_wait_then_a_change_writes_them_first(
    server: LiveServer, clock: FrozenClock, collector: ScriptedCollector
) -> None:
    token = server.make_token("acme")
    call(server, token)
    for seconds in (5, 10):  # cached and unchanged: deferred, coalesced per item
        clock.set(T0 + timedelta(seconds=seconds))
        call(server, token)
    assert server.run(deferred) == 1
    collector.set(ITEM, "649.00")
    clock.set(T0 + timedelta(seconds=TTL + 5))
    call(server, token)  # a change: the waiting confirmation goes first, in the charge
    assert server.run(deferred) == 0
    rows = points(server, "acme")
    assert [(p[0], p[1], p[2]) for p in rows] == [
        (1, T0, T0 + timedelta(seconds=10)),
        (2, T0 + timedelta(seconds=TTL + 5), T0 + timedelta(seconds=TTL + 5)),
    ]


def test_a_late_confirmation_older_than_a_stored_change_is_dropped(server: LiveServer) -> None:
    """Scale-out: another process stored a change after this one deferred a confirmation."""
    server.make_token("acme")
    account_id = server.scalar("SELECT id FROM accounts WHERE name = 'acme'")

    def seen(price: str, minute: int) -> history.Seen:
        payload = drifted_payload(ITEM, T0)
        payload["priceFloor"] = {"price": price, "ext": {"jdPrice": price}}
        return history.Seen(
            account_id, ITEM, tracked_state(payload), T0 + timedelta(minutes=minute)
        )

    def write(fn: Any, *observations: history.Seen) -> None:
        server.run(lambda ctx: ctx.db.write_batch(fn, list(observations)))

    write(history.record_free, seen("699.00", 0), seen("649.00", 2))
    write(history.record_deferred, seen("699.00", 1))  # older than the 649 point: dropped
    assert [(p[0], p[2]) for p in points(server, "acme")] == [
        (1, T0),
        (2, T0 + timedelta(minutes=2)),
    ]
    write(history.record_deferred, seen("699.00", 3))  # after it: a change back
    assert [str(p[3].price_current) for p in points(server, "acme")] == [
        "699.00",
        "649.00",
        "699.00",
    ]


def test_shutdown_writes_the_waiting_confirmations(
    clock: FrozenClock, collector: ScriptedCollector
) -> None:
    with live_server(
        clock=clock, collector=collector, result_ttl_seconds=TTL, **NO_TIMED_FLUSH
    ) as live:
        token = live.make_token("acme")
        call(live, token)
        clock.set(T0 + timedelta(seconds=30))
        call(live, token)  # unchanged: waits for the flush
        assert live.run(deferred) == 1
        live.stop()
        [(_, _, confirmed, _)] = points(live, "acme", flush=False)
        assert confirmed == T0 + timedelta(seconds=30)
