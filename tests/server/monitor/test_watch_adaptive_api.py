"""Adaptive schedules through ``/api/watch/lists`` (real server on loopback, both store
profiles): create and switch modes, and every bad schedule refused with a clear error
that changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.backends import Backend
from tests.support.live_server import LiveServer, live_server
from tests.support.user_api import call
from tests.support.watch_lists import LISTS

ITEMS = [str(400_000_000_000 + n) for n in range(10)]


@pytest.fixture(scope="module")
def server(backend: Backend) -> Iterator[LiveServer]:
    with (
        backend.database(),
        live_server(watch_min_interval_seconds=60, watch_scheduler=False) as live,
    ):
        yield live


def create(live: LiveServer, token: str, name: str, **fields: Any) -> dict[str, Any]:
    body = {"name": name, "dailyBudget": "5", "items": ITEMS, **fields}
    return call(live, token, "POST", LISTS, body)


def test_an_adaptive_list_and_a_switch_to_fixed_and_back(server: LiveServer) -> None:
    token = server.make_token("adaptive-api")
    made = create(
        server, token, "a", minIntervalSeconds=600, maxIntervalSeconds=86_400, withinSeconds=7200
    )
    assert made["code"] == 0, made
    assert made["data"]["schedule"] == {
        "mode": "adaptive",
        "intervalSeconds": None,
        "minIntervalSeconds": 600,
        "maxIntervalSeconds": 86_400,
        "withinSeconds": 7200,
    }
    status = made["data"]["status"]
    assert (status["checks"], status["changes"], status["charges"]) == (0, 0, 0)
    assert status["chargesPerChange"] is None
    assert status["emptyShare"] is None
    page = call(server, token, "GET", f"{LISTS}/a/items")["data"]["items"]
    assert all(item["intervalSeconds"] is None for item in page)  # not decided before a check
    # one bound alone on an adaptive list keeps the other and the target
    changed = call(server, token, "PATCH", f"{LISTS}/a", {"maxIntervalSeconds": 172_800})
    assert changed["data"]["schedule"]["minIntervalSeconds"] == 600
    assert changed["data"]["schedule"]["withinSeconds"] == 7200
    cleared = call(server, token, "PATCH", f"{LISTS}/a", {"withinSeconds": 0})
    assert cleared["data"]["schedule"]["withinSeconds"] is None
    fixed = call(server, token, "PATCH", f"{LISTS}/a", {"intervalSeconds": 3600})
    assert fixed["data"]["schedule"] == {
        "mode": "fixed",
        "intervalSeconds": 3600,
        "minIntervalSeconds": None,
        "maxIntervalSeconds": None,
        "withinSeconds": None,
    }
    page = call(server, token, "GET", f"{LISTS}/a/items")["data"]["items"]
    assert {item["intervalSeconds"] for item in page} == {3600}
    back = call(
        server,
        token,
        "PATCH",
        f"{LISTS}/a",
        {"minIntervalSeconds": 300, "maxIntervalSeconds": 86_400},
    )
    assert back["data"]["schedule"]["mode"] == "adaptive"


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({}, "needs a schedule"),
        ({"intervalSeconds": 600, "maxIntervalSeconds": 900}, "not both"),
        ({"minIntervalSeconds": 600}, "needs both minIntervalSeconds and maxIntervalSeconds"),
        ({"minIntervalSeconds": 900, "maxIntervalSeconds": 600}, "must not exceed"),
        ({"minIntervalSeconds": 10, "maxIntervalSeconds": 600}, "between 60 and"),
        ({"minIntervalSeconds": 60, "maxIntervalSeconds": 99 * 86_400}, "30 days"),
        (
            {"minIntervalSeconds": 60, "maxIntervalSeconds": 600, "withinSeconds": -1},
            "withinSeconds",
        ),
        ({"withinSeconds": 600}, "needs both"),
        # 10 items at least once every 600 s need 1440 checks a day; 5 yuan pays 500
        ({"minIntervalSeconds": 60, "maxIntervalSeconds": 600}, "pays 500 checks a day"),
    ],
)
def test_bad_schedules_are_refused_clearly(
    server: LiveServer, fields: dict[str, Any], says: str
) -> None:
    token = server.make_token("bad-schedules")
    answer = create(server, token, "bad", **fields)
    assert answer["code"] == 400, answer
    assert says in answer["message"]
    assert call(server, token, "GET", LISTS)["data"]["lists"] == []  # nothing made


def test_a_bad_change_changes_nothing(server: LiveServer) -> None:
    token = server.make_token("bad-change")
    assert create(server, token, "f", intervalSeconds=600)["code"] == 0
    for body, says in (
        ({"minIntervalSeconds": 600}, "needs both"),
        ({"withinSeconds": 600}, "needs both"),
        ({"minIntervalSeconds": 60, "maxIntervalSeconds": 600}, "raise dailyBudget"),
    ):
        answer = call(server, token, "PATCH", f"{LISTS}/f", body)
        assert answer["code"] == 400, answer
        assert says in answer["message"]
    shown = call(server, token, "GET", f"{LISTS}/f")["data"]["schedule"]
    assert (shown["mode"], shown["intervalSeconds"]) == ("fixed", 600)
