"""``client.history`` on both twins against the real embedded server on 127.0.0.1: typed
change points, window and limit, both token forms, typed errors, no token in errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest

from jditem import errors
from jditem.protocol.monitoring import ChangePoint, ItemHistory
from tests.client.conftest import TwinFactory
from tests.support.clock import FrozenClock
from tests.support.live_server import LiveServer, live_server
from tests.support.monitoring import ITEM, T0, ScriptedCollector

PRICES = ("699.00", "6??", "649.00")


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    collector, clock = ScriptedCollector(), FrozenClock(T0)
    with live_server(clock=clock, collector=collector, result_ttl_seconds=0) as live:
        token = live.make_token("seen")
        for n, price in enumerate(PRICES):
            collector.set(ITEM, price)
            clock.set(T0 + timedelta(minutes=n))
            body = live.get(ITEM, token).json()
            assert body["code"] == 0, body
        live.app.state.history_token = token
        yield live


def token_of(server: LiveServer) -> str:
    token: str = server.app.state.history_token
    return token


@pytest.mark.parametrize("auth", ["header", "query"])
async def test_typed_change_points(server: LiveServer, twin: TwinFactory, auth: str) -> None:
    client = twin(token=token_of(server), base_url=server.base_url, auth=auth)
    page = await client.call("history", f"https://item.jd.com/{ITEM}.html")
    assert isinstance(page, ItemHistory)
    assert page.item_id == ITEM
    assert all(isinstance(p, ChangePoint) for p in page.points)
    assert [p.price_current for p in page.points] == [Decimal("699.00"), None, Decimal("649.00")]
    assert [p.price_masked for p in page.points] == [False, True, False]
    assert page.points[2].valid_from == T0 + timedelta(minutes=2)


async def test_window_and_limit(server: LiveServer, twin: TwinFactory) -> None:
    client = twin(token=token_of(server), base_url=server.base_url)
    page = await client.call("history", ITEM, since=T0 + timedelta(seconds=90))
    assert [p.price_current for p in page.points] == [None, Decimal("649.00")]
    page = await client.call("history", ITEM, limit=1)
    assert ([p.price_current for p in page.points], page.has_more) == ([Decimal("649.00")], True)
    local_day = date(2026, 12, 1)  # 10:00 in Asia/Shanghai, the server's zone
    page = await client.call("history", ITEM, since=local_day, until=local_day.isoformat())
    assert len(page.points) == 3


async def test_an_item_never_received_has_no_points(server: LiveServer, twin: TwinFactory) -> None:
    client = twin(token=server.make_token("other"), base_url=server.base_url)
    page = await client.call("history", ITEM)
    assert (page.points, page.has_more) == ([], False)


async def test_errors_are_typed(server: LiveServer, twin: TwinFactory) -> None:
    client = twin(token="jdi_FAKE_unknown_token_123", base_url=server.base_url)
    with pytest.raises(errors.InvalidTokenError):
        await client.call("history", ITEM)
    client = twin(token=token_of(server), base_url=server.base_url)
    with pytest.raises(errors.InvalidParametersError, match="since="):
        await client.call("history", ITEM, since="last tuesday")
    with pytest.raises(errors.ConfigurationError, match="limit"):
        await client.call("history", ITEM, limit=0)
    with pytest.raises(errors.ConfigurationError, match="not a JD item URL"):
        await client.call("history", "https://example.com/1.html")
