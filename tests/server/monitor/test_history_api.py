"""``GET /api/history/{itemId}`` on a real server (both store profiles): the envelope, the
account's own points only, since/until/limit, free and rate-limited, clear 400s."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.support.clock import FrozenClock
from tests.support.live_server import LiveServer, live_server
from tests.support.monitoring import ITEM, T0, TTL, ScriptedCollector, call

from jditem.protocol.monitoring import ItemHistory

pytestmark = pytest.mark.usefixtures("backend")

PATH = f"/api/history/{ITEM}"


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


def history(live: LiveServer, token: str | None, path: str = PATH, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return live.http.get(path, params=params, headers=headers)


def three_prices(live: LiveServer, clock: FrozenClock, collector: ScriptedCollector) -> str:
    """A token whose account saw 699, then 649, then 599 (one minute apart)."""
    token = live.make_token("acme")
    for n, price in enumerate(["699.00", "649.00", "599.00"]):
        collector.set(ITEM, price)
        clock.set(T0 + timedelta(minutes=2 * n))
        call(live, token)
    return token


def test_the_history_is_the_envelope_of_typed_points(
    server: LiveServer, clock: FrozenClock, collector: ScriptedCollector
) -> None:
    token = three_prices(server, clock, collector)
    balance = server.scalar("SELECT balance FROM accounts WHERE name = 'acme'")
    response = history(server, token)
    body = response.json()
    assert response.status_code == 200
    assert (body["code"], body["message"]) == (0, "success")
    assert set(body) == {"code", "message", "data", "recordTime", "requestId"}
    page = ItemHistory.model_validate(body["data"])
    assert page.item_id == ITEM
    assert not page.has_more
    assert [p.price_current for p in page.points] == [
        Decimal("699.00"),
        Decimal("649.00"),
        Decimal("599.00"),
    ]
    assert body["data"]["points"][0]["priceCurrent"] == "699.00"  # money as text
    assert page.points[1].valid_from == T0 + timedelta(minutes=2)
    assert body["data"]["points"][0]["validFrom"].endswith("+08:00")  # the server's zone
    assert server.scalar("SELECT balance FROM accounts WHERE name = 'acme'") == balance  # free


def test_since_until_and_limit_select_points(
    server: LiveServer, clock: FrozenClock, collector: ScriptedCollector
) -> None:
    token = three_prices(server, clock, collector)

    def prices(**params: Any) -> tuple[list[str], bool]:
        data = history(server, token, **params).json()["data"]
        return [p["priceCurrent"] for p in data["points"]], data["hasMore"]

    # the point in effect at `since` is part of the window
    assert prices(since=(T0 + timedelta(minutes=3)).isoformat()) == (["649.00", "599.00"], False)
    assert prices(until=(T0 + timedelta(minutes=1)).isoformat()) == (["699.00"], False)
    assert prices(limit="2") == (["649.00", "599.00"], True)
    local_day = (T0 + timedelta(hours=8)).date().isoformat()  # Asia/Shanghai
    assert prices(since=local_day, until=local_day) == (["699.00", "649.00", "599.00"], False)


def test_another_accounts_history_is_empty(
    server: LiveServer, clock: FrozenClock, collector: ScriptedCollector
) -> None:
    three_prices(server, clock, collector)
    stranger = server.make_token("stranger")
    body = history(server, stranger).json()
    assert body["code"] == 0
    assert body["data"] == {"itemId": ITEM, "points": [], "hasMore": False}


@pytest.mark.parametrize(
    ("path", "params", "words"),
    [
        ("/api/history/12ab", {}, "itemId"),
        (PATH, {"since": "yesterday"}, "since='yesterday' is not a date or time"),
        (PATH, {"limit": "0"}, "limit='0' must be a whole number from 1 to 10000"),
        (PATH, {"until": "9999-12-31"}, "until='9999-12-31' is not a date or time"),
        (PATH, {"limit": "lots"}, "limit='lots'"),
        (PATH, {"since": "2026-12-03", "until": "2026-12-01"}, "since is after until"),
    ],
)
def test_bad_parameters_are_400_saying_what_to_fix(
    server: LiveServer, path: str, params: dict[str, str], words: str
) -> None:
    token = server.make_token("acme")
    response = history(server, token, path, **params)
    body = response.json()
    assert (response.status_code, body["code"]) == (400, 400)
    assert words in body["message"]


def test_tokens_are_checked_like_calls(server: LiveServer) -> None:
    assert history(server, None).json()["code"] == 100
    assert "missing token" in history(server, None).json()["message"]
    assert history(server, "jdi_not-a-token").json()["code"] == 100
    denied = server.make_token("acme", permissions=["other/endpoint"], name="narrow")
    assert history(server, denied).json()["code"] == 600


def test_reads_take_slots_of_the_tokens_rate_limit(server: LiveServer) -> None:
    token = server.make_token("acme", rate=0.01, burst=2)
    codes = [history(server, token).json()["code"] for _ in range(3)]
    assert codes == [0, 0, 302]
    limited = history(server, token)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1


def test_the_endpoint_is_in_the_openapi_document(server: LiveServer) -> None:
    spec = server.http.get("/openapi.json").json()
    operation = spec["paths"]["/api/history/{itemId}"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"itemId", "since", "until", "limit"}


def test_a_time_without_offset_is_the_servers_zone(
    server: LiveServer, clock: FrozenClock, collector: ScriptedCollector
) -> None:
    token = three_prices(server, clock, collector)
    local = (T0 + timedelta(hours=8, minutes=3)).replace(tzinfo=None)
    assert isinstance(local, datetime)
    data = history(server, token, since=local.isoformat()).json()["data"]
    assert [p["priceCurrent"] for p in data["points"]] == ["649.00", "599.00"]
