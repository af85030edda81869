"""The watch-list scheduler on a real server (loopback, both store profiles), driven by an
injectable clock: due items are checked through admission, once per (account, item) for
all of the account's lists, once after downtime, never charged twice for one slot; a
list pauses with the reason that stopped it and resumes by itself when it is gone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from tests.support.backends import Backend
from tests.support.clock import FrozenClock
from tests.support.live_server import LiveServer, live_server
from tests.support.user_api import api
from tests.support.watch_lists import LISTS, PRICE, T0, new_list, schedule, status, tick

from jditem.server.jobs.watch_scheduler import WatchScheduler


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def server(backend: Backend, clock: FrozenClock) -> Iterator[LiveServer]:
    del backend
    with live_server(clock=clock, watch_scheduler=False, watch_min_interval_seconds=60) as live:
        yield live


def resume(live: LiveServer) -> int:
    scheduler: WatchScheduler = live.app.state.watch
    return live.run(lambda _ctx: scheduler.resume_paused())


def list_charges(live: LiveServer, list_id: int) -> list[tuple[str, int]]:
    """(item, amount) of the ledger charges of the list's checks, by item."""
    rows = live.rows(
        "SELECT l.item_id, -l.amount FROM ledger l JOIN call_records c "
        "ON c.request_id = l.request_id WHERE c.watch_list_id = :w AND l.kind = 'charge' "
        "ORDER BY l.item_id",
        w=list_id,
    )
    return [(str(r[0]), int(r[1])) for r in rows]


def account_charges(live: LiveServer, account: str) -> int:
    return int(
        live.scalar(
            "SELECT COUNT(*) FROM ledger l JOIN accounts a ON a.id = l.account_id "
            "WHERE a.name = :a AND l.kind = 'charge'",
            a=account,
        )
    )


def test_items_are_spread_and_not_due_before_their_slot(server: LiveServer) -> None:
    token = server.make_token("spread")
    items = [str(100_000_000_000 + i) for i in range(20)]
    list_id = new_list(server, token, "s", items, interval=600)
    times = [nxt for nxt, _ in schedule(server, list_id).values()]
    assert all(T0 < t <= T0 + timedelta(seconds=600) for t in times)
    assert len({t.replace(microsecond=0) for t in times}) > 10  # spread, not one burst
    assert tick(server) == 0  # nothing is due yet
    assert account_charges(server, "spread") == 0


def test_one_check_serves_every_list_of_the_account(server: LiveServer, clock: FrozenClock) -> None:
    token = server.make_token("two-lists")
    other = server.make_token("other-account")
    first = new_list(server, token, "a", ["100000000001", "100000000002"], interval=60)
    second = new_list(server, token, "b", ["100000000001"], interval=120)
    foreign = new_list(server, other, "c", ["100000000001"], interval=60)
    clock.set(T0 + timedelta(seconds=300))
    assert tick(server) == 4
    # the account paid once per item: the shared item through the lower-numbered list
    assert list_charges(server, first) == [("100000000001", PRICE), ("100000000002", PRICE)]
    assert list_charges(server, second) == []
    assert account_charges(server, "two-lists") == 2
    # another account's list is its own check, its own charge
    assert list_charges(server, foreign) == [("100000000001", PRICE)]
    now = T0 + timedelta(seconds=300)
    for list_id, interval in ((first, 60), (second, 120)):
        for next_at, last in schedule(server, list_id).values():
            assert last == now
            assert now < next_at <= now + timedelta(seconds=interval)
    assert status(server, token, "b")["lastCheckAt"] is not None
    assert tick(server) == 0  # nothing due any more: no second check for list b
    assert account_charges(server, "two-lists") == 2


def test_overdue_items_are_checked_once_after_downtime(
    server: LiveServer, clock: FrozenClock
) -> None:
    token = server.make_token("downtime")
    items = [str(200_000_000_000 + i) for i in range(5)]
    list_id = new_list(server, token, "d", items, interval=60)
    later = T0 + timedelta(hours=3)  # 180 missed slots
    clock.set(later)
    assert tick(server) == 5
    assert tick(server) == 0
    assert [item for item, _ in list_charges(server, list_id)] == sorted(items)
    for next_at, last in schedule(server, list_id).values():
        assert last == later
        assert later < next_at <= later + timedelta(seconds=60)
    # the next slot comes round: each item once more
    clock.set(later + timedelta(seconds=61))
    assert tick(server) == 5
    assert len(list_charges(server, list_id)) == 10


def test_a_slot_checked_again_after_a_crash_is_not_charged_twice(
    server: LiveServer, clock: FrozenClock
) -> None:
    """A scheduler that dies after the charge but before it moved the item on leaves the
    item due at the same slot; the next scheduler's check replays it free (same key)."""
    token = server.make_token("takeover")
    list_id = new_list(server, token, "t", ["300000000001"], interval=60)
    ((due, _),) = schedule(server, list_id).values()
    clock.set(due + timedelta(seconds=1))
    assert tick(server) == 1
    assert list_charges(server, list_id) == [("300000000001", PRICE)]
    server.execute(
        "UPDATE watch_items SET next_check_at = :d, last_checked_at = NULL WHERE list_id = :l",
        d=due,
        l=list_id,
    )
    assert tick(server) == 1
    assert list_charges(server, list_id) == [("300000000001", PRICE)]
    records = server.rows(
        "SELECT code, charged FROM call_records WHERE watch_list_id = :l ORDER BY id", l=list_id
    )
    assert [(int(c), int(p)) for c, p in records] == [(0, PRICE), (0, 0)]
    ((next_at, last),) = schedule(server, list_id).values()
    assert last == due + timedelta(seconds=1)
    assert next_at > last


def test_the_list_budget_pauses_it_and_the_next_day_resumes_it(
    server: LiveServer, clock: FrozenClock
) -> None:
    token = server.make_token("list-budget")
    items = [str(400_000_000_000 + i) for i in range(5)]
    list_id = new_list(server, token, "lb", items, interval=60, budget="0.03")
    clock.set(T0 + timedelta(seconds=61))
    tick(server)
    assert len(list_charges(server, list_id)) == 3
    state = status(server, token, "lb")
    assert (state["paused"], state["pausedReason"]) == (True, "list_budget")
    assert state["spentToday"] == "0.0300"
    assert state["checksToday"] == 3
    assert state["nextCheckAt"] is None
    assert resume(server) == 0  # same day: still spent
    assert tick(server) == 0  # a paused list's items are off the due index
    clock.set(T0 + timedelta(days=1))
    assert resume(server) == 1
    assert status(server, token, "lb")["paused"] is False
    tick(server)
    assert len(list_charges(server, list_id)) == 6  # three more: the new day's budget
    assert status(server, token, "lb")["pausedReason"] == "list_budget"


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        ({"budget_yuan": "0.02"}, "token_budget"),
        ({"balance_yuan": "0.02"}, "balance"),
        ({"daily_quota": 2}, "quota"),
    ],
)
def test_token_and_account_limits_bind_first_and_pause_with_their_reason(
    server: LiveServer, clock: FrozenClock, limits: dict[str, Any], reason: str
) -> None:
    account = f"limits-{reason}"
    token = server.make_token(account, **limits)
    items = [str(500_000_000_000 + i) for i in range(4)]
    list_id = new_list(server, token, "l", items, interval=60, budget="100")
    clock.set(T0 + timedelta(seconds=61))
    tick(server)
    assert len(list_charges(server, list_id)) == 2
    assert status(server, token, "l")["pausedReason"] == reason
    assert resume(server) == 0
    if reason == "token_budget":
        token_id = server.scalar("SELECT token_id FROM watch_lists WHERE id = :l", l=list_id)
        server.admin("PATCH", f"/tokens/{token_id}", {"budget_yuan": "1"})
    elif reason == "balance":
        server.topup(account, "1")
    else:
        clock.set(T0 + timedelta(days=1))
    assert resume(server) == 1
    assert status(server, token, "l")["paused"] is False
    tick(server)
    assert len(list_charges(server, list_id)) == 4  # the other two, or the next day's two


def test_a_person_s_pause_is_never_lifted_by_the_scheduler(
    server: LiveServer, clock: FrozenClock
) -> None:
    token = server.make_token("manual")
    list_id = new_list(server, token, "m", ["600000000001"], interval=60)
    api(server, token, "PATCH", f"{LISTS}/m", {"paused": True})
    clock.set(T0 + timedelta(days=2))
    assert resume(server) == 0
    assert tick(server) == 0
    assert list_charges(server, list_id) == []
    api(server, token, "PATCH", f"{LISTS}/m", {"paused": False})
    assert tick(server) == 1  # overdue: checked once
    assert len(list_charges(server, list_id)) == 1


def test_a_check_observes_the_item_anew_not_the_result_cache(
    server: LiveServer, clock: FrozenClock
) -> None:
    """With the default result TTL (an hour) a 5-minute list is charged at each check for
    a collection made for that check — never again for the answer its previous check (or
    an older call) stored; a result collected for someone else a moment ago serves."""
    token = server.make_token("fresh")
    old, recent = "100012043978", "100012043979"

    def tasks(item: str) -> int:
        return int(server.scalar("SELECT COUNT(*) FROM tasks WHERE item_id = :i", i=item))

    assert server.get(old, token).json()["code"] == 0  # cached at T0, valid for an hour
    list_id = new_list(server, token, "fresh", [old, recent], interval=300)
    clock.set(T0 + timedelta(seconds=290))
    assert server.get(recent, token).json()["code"] == 0  # collected 10 s before the checks
    for k in (1, 2, 3):
        clock.set(T0 + timedelta(seconds=300 * k))
        assert tick(server) == 2
        assert tasks(old) == 1 + k  # collected anew for each check
        assert tasks(recent) == k  # the first check took the 10 s old answer
        assert sorted(list_charges(server, list_id)) == sorted([(old, PRICE), (recent, PRICE)] * k)
    assert server.get(old, token).json()["code"] == 0  # ordinary calls: the cache as ever
    assert tasks(old) == 4
