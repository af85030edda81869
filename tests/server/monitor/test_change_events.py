"""Change events and the pull feed (SPEC §6.3) on a real server on loopback, both store
profiles: the first observation is a baseline, each change an event written with its
point; the feed pages in order and resumes from its cursor without loss or repeats; a
list's rules (kinds, thresholds, re-arm cooldown) mark which lists an event notifies; the
cooldown claim is exact under concurrent writers; retention prunes old events."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection
from tests.support.clock import FrozenClock
from tests.support.live_server import LiveServer, live_server
from tests.support.monitoring import (
    CHANGES,
    ITEM,
    T0,
    TTL,
    Changer,
    ScriptedCollector,
    call,
    feed,
)

from jditem.server.context import ServerContext
from jditem.server.monitor import events
from jditem.server.store import retention

pytestmark = pytest.mark.usefixtures("backend")

LISTS = "/api/watch/lists"


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
    with live_server(
        clock=clock, collector=collector, result_ttl_seconds=TTL, watch_scheduler=False
    ) as live:
        yield live


@pytest.fixture
def changer(server: LiveServer, clock: FrozenClock, collector: ScriptedCollector) -> Changer:
    return Changer(server, clock, collector)


def api(live: LiveServer, token: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    response = live.http.request(
        method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
    )
    body: dict[str, Any] = response.json()
    return body


def read_all(
    live: LiveServer, token: str, cursor: str | None, **params: Any
) -> tuple[list[Any], str | None]:
    """Every event after ``cursor``, page by page (bounded), and the final cursor."""
    got: list[Any] = []
    for _ in range(100):
        page = feed(live, token, **({"cursor": cursor} if cursor else {}), **params)
        got.extend(page["events"])
        cursor = page["cursor"]
        if not page["hasMore"]:
            return got, cursor
    raise AssertionError("the feed never ended")


def test_the_first_observation_is_a_baseline_and_each_change_an_event(
    server: LiveServer, changer: Changer
) -> None:
    token = server.make_token("acme")
    other = server.make_token("other")
    call(server, token)
    assert feed(server, token) == {"events": [], "cursor": None, "hasMore": False}
    changer.observe(token, "649.00")
    changer.observe(token, "649.00", stock=34)
    events_, _ = read_all(server, token, None)
    assert [e["kinds"] for e in events_] == [["price_drop", "new_low"], ["out_of_stock"]]
    first = events_[0]
    assert first["changes"] == [{"field": "price_current", "before": "699.00", "after": "649.00"}]
    assert first["newLowDays"] == [30, 90, 180]
    assert first["itemId"] == ITEM
    assert first["id"].startswith("evt_")
    assert first["id"] < events_[1]["id"]
    assert first["observedAt"].endswith("+08:00")  # the server's time zone, as elsewhere
    assert first["lists"] == []
    assert first["ruleMatches"] == []
    points = server.scalar("SELECT COUNT(*) FROM item_history WHERE item_id = :i", i=ITEM)
    assert points == 3  # the baseline and two changes: an event per change point
    assert feed(server, other)["events"] == []  # another account never sees them


def test_the_cursor_resumes_without_loss_or_repeats(server: LiveServer, changer: Changer) -> None:
    token = server.make_token("acme")
    call(server, token)
    for n in range(7):
        changer.observe(token, f"{600 + n % 2 * 50}.00")
    seen, cursor = read_all(server, token, None, limit=2)
    assert len(seen) == 7
    ids = [e["id"] for e in seen]
    assert ids == sorted(ids)
    assert len(set(ids)) == 7
    assert cursor == ids[-1]
    idle = feed(server, token, cursor=cursor)
    assert idle == {"events": [], "cursor": cursor, "hasMore": False}  # poll again with it
    changer.observe(token, "500.00")
    changer.observe(token, "510.00")
    more, _ = read_all(server, token, cursor, limit=1)
    assert [e["changes"][0]["after"] for e in more] == ["500.00", "510.00"]
    assert not {e["id"] for e in more} & set(ids)


def test_a_list_s_rules_decide_which_lists_an_event_notifies(
    server: LiveServer, changer: Changer
) -> None:
    token = server.make_token("acme")
    base = {"intervalSeconds": 3600, "dailyBudget": "5", "items": [ITEM]}
    rules = {"kinds": ["price_drop"], "dropPercent": "10", "cooldownSeconds": 3600}
    for body in ({"name": "all", **base}, {"name": "deep", **base, "rules": rules}):
        created = api(server, token, "POST", LISTS, json=body)
        assert created["code"] == 0, created
    assert created["data"]["rules"]["dropPercent"] == "10"
    call(server, token)
    changer.observe(token, "649.00")  # -7.2 %: below deep's threshold
    changer.observe(token, "549.00")  # -15.4 %: deep notifies; all's kinds are cooling
    changer.observe(token, "599.00")  # a rise: all notifies it, deep does not want it
    changer.observe(token, "499.00")  # -16.7 %, within deep's hour: silenced
    changer.observe(token, "399.00", after=3600)  # an hour later: deep re-armed
    got, _ = read_all(server, token, None)

    def notified(name: str) -> list[list[str]]:
        return [next(m["kinds"] for m in e["ruleMatches"] if m["name"] == name) for e in got]

    assert notified("deep") == [[], ["price_drop"], [], [], ["price_drop"]]
    assert notified("all") == [
        ["price_drop", "new_low"],
        [],
        ["price_rise"],
        [],
        [],  # all's 6 h default cooldown has not passed for either kind
    ]
    assert all(len(e["lists"]) == 2 for e in got)
    deep, _ = read_all(server, token, None, list="deep")
    assert [e["id"] for e in deep] == [e["id"] for e in got]
    deep_id = next(m["listId"] for m in got[0]["ruleMatches"] if m["name"] == "deep")
    cooling = "SELECT COUNT(*) FROM watch_cooldowns WHERE list_id = :l"
    assert server.scalar(cooling, l=int(deep_id)) == 1
    assert api(server, token, "DELETE", f"{LISTS}/deep")["code"] == 0
    assert server.scalar(cooling, l=int(deep_id)) == 0  # a deleted list leaves no cooldowns
    assert len(read_all(server, token, None)[0]) == len(got)  # its events stay in the feed
    missing = api(server, token, "GET", CHANGES, params={"list": "nope"})
    assert missing["code"] == 404
    assert "nope" in missing["message"]


def test_rules_are_set_shown_and_checked_through_the_watch_api(server: LiveServer) -> None:
    token = server.make_token("acme")
    body = {"name": "phones", "intervalSeconds": 3600, "dailyBudget": "5"}
    shown = api(server, token, "POST", LISTS, json=body)["data"]
    assert shown["rules"]["cooldownSeconds"] == 6 * 3600  # the defaults: every kind
    assert len(shown["rules"]["kinds"]) == 8
    new = {"kinds": ["back_in_stock"], "priceAtMost": "99.90", "dropYuan": "5"}
    changed = api(server, token, "PATCH", f"{LISTS}/phones", json={"rules": new})
    assert changed["code"] == 0, changed
    assert changed["data"]["rules"]["kinds"] == ["back_in_stock"]
    assert changed["data"]["rules"]["priceAtMost"] == "99.90"
    for bad in ({"dropPercent": "150"}, {"kinds": ["cheaper"]}, {"dropPct": "5"}):
        refused = api(server, token, "PATCH", f"{LISTS}/phones", json={"rules": bad})
        assert refused["code"] == 400, refused
    kept = api(server, token, "GET", f"{LISTS}/phones")["data"]["rules"]
    assert kept["kinds"] == ["back_in_stock"]  # a refused change changes nothing


def test_a_bad_cursor_is_refused_with_what_to_send(server: LiveServer) -> None:
    token = server.make_token("acme")
    body = api(server, token, "GET", CHANGES, params={"cursor": "page-2"})
    assert body["code"] == 400
    assert "cursor" in body["message"]
    assert "previous page" in body["message"]
    assert api(server, "nope", "GET", CHANGES)["code"] == 100


def test_a_cooldown_is_claimed_once_by_concurrent_writers(server: LiveServer) -> None:
    """Twelve transactions on their own connections claim one (list, item, kind) at the
    same moment: exactly one notifies (the store's conditional upsert decides)."""

    def claim(connection: Connection) -> int:
        statement = events.CLAIM[connection.dialect.name]
        params = {"l": 1, "i": ITEM, "k": "price_drop", "at": T0, "rearm": T0 - timedelta(hours=1)}
        return statement.rowcount(connection, params)

    async def race(ctx: ServerContext) -> list[int]:
        return list(await asyncio.gather(*(ctx.db.write_batch(claim) for _ in range(12))))

    assert sorted(server.run(race)) == [0] * 11 + [1]
    later = T0 + timedelta(hours=1)

    def rearmed(connection: Connection) -> int:
        statement = events.CLAIM[connection.dialect.name]
        params = {"l": 1, "i": ITEM, "k": "price_drop", "at": later, "rearm": T0}
        return statement.rowcount(connection, params)

    assert server.run(lambda ctx: ctx.db.write_batch(rearmed)) == 1  # exactly one cooldown later


def test_retention_prunes_old_events(
    server: LiveServer, changer: Changer, clock: FrozenClock
) -> None:
    token = server.make_token("acme")
    call(server, token)
    changer.observe(token, "649.00")
    clock.set(T0 + timedelta(days=100))
    changer.observe(token, "599.00")
    settings = server.settings
    assert settings.event_retention_days == 90
    report = server.run(lambda ctx: retention.prune(ctx.db, settings, clock()))
    assert report.deleted["change_events"] == 1
    left, _ = read_all(server, token, None)
    assert [e["changes"][0]["after"] for e in left] == ["599.00"]


def test_the_moving_sandbox_s_changes_are_events_of_the_lists_holding_them(
    clock: FrozenClock,
) -> None:
    """Scheduled checks of a drifting catalog: one event per change point after the
    baseline, each naming the list that holds the item."""
    items = [str(100_000_000_001 + n) for n in range(12)]
    with live_server(
        clock=clock, watch_scheduler=False, watch_min_interval_seconds=60, sandbox_drift=True
    ) as live:
        token = live.make_token("drift")
        created = api(
            live,
            token,
            "POST",
            LISTS,
            json={"name": "moving", "intervalSeconds": 3600, "dailyBudget": "100", "items": items},
        )
        list_id = created["data"]["id"]
        scheduler = live.app.state.watch
        for days in (0, 10, 20, 30):
            clock.set(T0 + timedelta(days=days, hours=2))
            assert live.run(lambda _ctx: scheduler.tick(), timeout=120) == len(items)
            if days == 0:
                assert feed(live, token)["events"] == []  # the first checks: baselines
        got, _ = read_all(live, token, None)
        changed = live.scalar("SELECT COUNT(*) FROM item_history WHERE seq > 1")
        assert changed > 0
        assert len(got) == changed
        assert all(e["lists"] == [list_id] for e in got)
        assert {m["name"] for e in got for m in e["ruleMatches"]} == {"moving"}
