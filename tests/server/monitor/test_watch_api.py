"""``/api/watch/lists`` on a real server (loopback, both store profiles): create, list,
show, change, pause, delete, bulk add and remove — envelope, isolation, clear errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.backends import Backend
from tests.support.live_server import LiveServer, live_server
from tests.support.user_api import call
from tests.support.watch_lists import LISTS

from jditem.protocol.monitoring import WatchList


@pytest.fixture(scope="module")
def server(backend: Backend) -> Iterator[LiveServer]:
    with (
        backend.database(),
        live_server(watch_min_interval_seconds=60, watch_scheduler=False) as live,
    ):
        yield live


def test_create_show_list_and_delete(server: LiveServer) -> None:
    token = server.make_token("wl-crud")
    made = call(
        server,
        token,
        "POST",
        LISTS,
        {
            "name": "phones",
            "intervalSeconds": 600,
            "dailyBudget": "5.00",
            "items": ["100012043978", "https://item.jd.com/100008348542.html"],
        },
    )
    assert made["code"] == 0, made
    shown = WatchList.model_validate(made["data"])
    assert (shown.name, shown.schedule.interval_seconds) == ("phones", 600)
    assert str(shown.daily_budget) == "5.0000"
    assert made["data"]["dailyBudget"] == "5.0000"  # money is a string on the wire
    assert shown.token.endswith("...")
    assert token not in str(made)
    assert shown.status.items == 2
    assert not shown.status.paused
    assert shown.status.next_check_at is not None
    listed = call(server, token, "GET", LISTS)
    assert [wl["name"] for wl in listed["data"]["lists"]] == ["phones"]
    one = call(server, token, "GET", f"{LISTS}/phones")
    assert one["data"]["status"]["spentToday"] == "0.0000"
    gone = call(server, token, "DELETE", f"{LISTS}/phones")
    assert gone["code"] == 0
    assert gone["data"] == {"deleted": "phones"}
    assert call(server, token, "GET", f"{LISTS}/phones")["code"] == 404


def test_bad_input_is_a_clear_400(server: LiveServer) -> None:
    token = server.make_token("wl-bad")
    base = {"name": "x", "intervalSeconds": 600, "dailyBudget": "1"}
    too_fast = call(server, token, "POST", LISTS, {**base, "intervalSeconds": 5})
    assert (too_fast["code"], too_fast["http"]) == (400, 400)
    assert "between 60 and" in too_fast["message"]
    bad_money = call(server, token, "POST", LISTS, {**base, "dailyBudget": "1.00001"})
    assert bad_money["code"] == 400
    assert "dailyBudget" in bad_money["message"]
    bad_name = call(server, token, "POST", LISTS, {**base, "name": "a/b"})
    assert bad_name["code"] == 400
    assert "list name" in bad_name["message"]
    unknown = call(server, token, "POST", LISTS, {**base, "colour": "red"})
    assert unknown["code"] == 400
    assert "colour" in unknown["message"]
    assert call(server, token, "POST", LISTS, base)["code"] == 0
    again = call(server, token, "POST", LISTS, base)
    assert again["code"] == 400
    assert "exists already" in again["message"]


def test_tokens_are_required_and_accounts_isolated(server: LiveServer) -> None:
    mine = server.make_token("wl-mine")
    theirs = server.make_token("wl-theirs")
    assert (
        call(
            server,
            mine,
            "POST",
            LISTS,
            {"name": "secret", "intervalSeconds": 600, "dailyBudget": "1"},
        )["code"]
        == 0
    )
    for method, path in (
        ("GET", f"{LISTS}/secret"),
        ("PATCH", f"{LISTS}/secret"),
        ("DELETE", f"{LISTS}/secret"),
        ("POST", f"{LISTS}/secret/items"),
    ):
        body = {} if method in ("PATCH", "POST") else None
        answer = call(server, theirs, method, path, body)
        assert (answer["code"], answer["http"]) == (404, 404), (method, answer)
    assert call(server, theirs, "GET", LISTS)["data"] == {"lists": []}
    anonymous = server.http.get(LISTS)
    assert anonymous.json()["code"] == 100
    assert anonymous.status_code == 401
    wrong = call(server, "not-a-token", "GET", LISTS)
    assert wrong["code"] == 100
    # still there for its owner
    assert call(server, mine, "GET", f"{LISTS}/secret")["code"] == 0


def test_bulk_add_reads_ids_urls_and_csv_and_remove(server: LiveServer) -> None:
    token = server.make_token("wl-bulk")
    assert (
        call(
            server,
            token,
            "POST",
            LISTS,
            {"name": "bulk", "intervalSeconds": 600, "dailyBudget": "1"},
        )["code"]
        == 0
    )
    csv_text = "sku,name\n100000000001,a\nhttps://item.jd.com/100000000002.html,b\nnope,c\n"
    added = call(
        server,
        token,
        "POST",
        f"{LISTS}/bulk/items",
        {"items": ["100000000001", "100000000003 100000000004"], "text": csv_text},
    )
    assert added["code"] == 0, added
    data = added["data"]
    assert data["added"] == 4  # ...01, ...03, ...04 and ...02 (01 twice)
    assert data["alreadyThere"] == 1
    assert data["skippedTotal"] == 1
    assert data["skipped"][0]["line"] == 4
    again = call(server, token, "POST", f"{LISTS}/bulk/items", {"items": ["100000000002"]})
    assert again["data"]["added"] == 0
    assert again["data"]["alreadyThere"] == 1
    page = call(server, token, "GET", f"{LISTS}/bulk/items?limit=3")["data"]
    assert [i["itemId"] for i in page["items"]] == ["100000000001", "100000000002", "100000000003"]
    assert page["next"] == "100000000003"
    rest = call(server, token, "GET", f"{LISTS}/bulk/items?limit=3&after=100000000003")["data"]
    assert [i["itemId"] for i in rest["items"]] == ["100000000004"]
    assert rest["next"] is None
    removed = call(
        server, token, "POST", f"{LISTS}/bulk/items/remove", {"items": ["100000000001", "999"]}
    )
    assert removed["data"]["removed"] == 1
    assert call(server, token, "GET", f"{LISTS}/bulk")["data"]["status"]["items"] == 3


def test_item_cap_is_enforced_with_a_clear_message(backend: Backend) -> None:
    with live_server(watch_max_items=3, watch_scheduler=False) as live:
        token = live.make_token("wl-cap")
        body = {"name": "cap", "intervalSeconds": 600, "dailyBudget": "1", "items": ["1", "2", "3"]}
        assert call(live, token, "POST", LISTS, body)["code"] == 0
        over = call(live, token, "POST", f"{LISTS}/cap/items", {"items": ["4"]})
        assert over["code"] == 400
        assert "at most 3 items" in over["message"]


def test_pause_resume_and_changes(server: LiveServer) -> None:
    token = server.make_token("wl-pause")
    assert (
        call(
            server,
            token,
            "POST",
            LISTS,
            {"name": "p", "intervalSeconds": 600, "dailyBudget": "1", "items": ["5"]},
        )["code"]
        == 0
    )
    paused = call(server, token, "PATCH", f"{LISTS}/p", {"paused": True})["data"]["status"]
    assert paused["paused"] is True
    assert paused["pausedReason"] == "user"
    assert paused["nextCheckAt"] is None
    active = (
        "SELECT wi.active FROM watch_items wi JOIN watch_lists wl ON wl.id = wi.list_id "
        "JOIN accounts a ON a.id = wl.account_id WHERE a.name = 'wl-pause'"
    )
    assert [bool(row[0]) for row in server.rows(active)] == [False]  # off the due index
    resumed = call(server, token, "PATCH", f"{LISTS}/p", {"paused": False})["data"]
    assert [bool(row[0]) for row in server.rows(active)] == [True]
    assert resumed["status"]["paused"] is False
    assert resumed["status"]["pausedReason"] is None
    changed = call(
        server, token, "PATCH", f"{LISTS}/p", {"intervalSeconds": 3600, "dailyBudget": "2.5"}
    )["data"]
    assert changed["schedule"]["intervalSeconds"] == 3600
    assert changed["dailyBudget"] == "2.5000"


def test_the_watch_api_is_in_openapi(server: LiveServer) -> None:
    paths = server.http.get("/openapi.json").json()["paths"]
    assert {
        "/api/watch/lists",
        "/api/watch/lists/{name}",
        "/api/watch/lists/{name}/items",
        "/api/watch/lists/{name}/items/remove",
    } <= set(paths)


def test_a_list_needs_a_token_that_may_call_the_endpoint(server: LiveServer) -> None:
    token = server.make_token("wl-perm", permissions=["jd/other"])
    body = {"name": "p", "intervalSeconds": 600, "dailyBudget": "1"}
    refused = call(server, token, "POST", LISTS, body)
    assert (refused["code"], refused["http"]) == (600, 403)
    assert "every check of the list" in refused["message"]
