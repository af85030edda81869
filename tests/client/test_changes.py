"""``client.changes(since=cursor)`` on both twins against a real server (loopback): every
event in order across pages, a cursor that resumes after a ``break`` mid-page without
loss or repeats, a list's events only, rules sent with a list, and typed errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest

from jditem import AsyncClient, errors
from jditem.client.changes import AsyncChangeFeed, ChangeFeed
from jditem.protocol.monitoring import ChangeEvent, ChangeKind, WatchRules
from tests.client.conftest import Twin, TwinFactory
from tests.server.monitor.test_history_write import ITEM, T0, TTL, ScriptedCollector, call
from tests.support.clock import FrozenClock
from tests.support.live_server import LiveServer, live_server

PRICES = ["650.00", "700.00", "640.00", "710.00", "630.00"]


CLOCK = FrozenClock(T0)
COLLECTOR = ScriptedCollector()


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server(
        clock=CLOCK, collector=COLLECTOR, result_ttl_seconds=TTL, watch_scheduler=False
    ) as live:
        yield live


async def observe(live: LiveServer, token: str, price: str) -> None:
    """The item answers ``price`` now (its cached answer expired) and the token gets it."""
    CLOCK.set(CLOCK() + timedelta(seconds=TTL + 1))
    COLLECTOR.set(ITEM, price)
    await asyncio.to_thread(call, live, token)


async def read(
    feed: ChangeFeed | AsyncChangeFeed, stop_after: int | None = None
) -> list[ChangeEvent]:
    got: list[ChangeEvent] = []
    if isinstance(feed, AsyncChangeFeed):
        async for event in feed:
            got.append(event)
            if len(got) == stop_after:
                break
        return got

    def walk() -> None:
        for event in feed:
            got.append(event)
            if len(got) == stop_after:
                break

    await asyncio.to_thread(walk)
    return got


def account(live: LiveServer, twin: TwinFactory, name: str) -> tuple[Twin, str]:
    token = live.make_token(f"{name}-{id(twin)}")
    return twin(token=token, base_url=live.base_url), token


async def test_the_feed_pages_in_order_and_resumes_from_its_cursor(
    server: LiveServer, twin: TwinFactory
) -> None:
    client, token = account(server, twin, "feed")
    await observe(server, token, "699.00")  # the baseline
    for price in PRICES:
        await observe(server, token, price)
    everything = await read(client.client.changes(limit=2))
    assert [e.changes[0].after for e in everything] == PRICES
    assert everything[0].kinds == [ChangeKind.PRICE_DROP, ChangeKind.NEW_LOW]
    assert everything[1].kinds == [ChangeKind.PRICE_RISE]
    first = client.client.changes(limit=2)
    head = await read(first, stop_after=3)  # a break in the middle of the second page
    assert first.cursor == head[-1].id
    rest = client.client.changes(since=first.cursor, limit=2)
    tail = await read(rest)
    assert [e.id for e in head + tail] == [e.id for e in everything]
    assert rest.cursor == everything[-1].id
    again = client.client.changes(since=rest.cursor)
    assert await read(again) == []
    assert again.cursor == rest.cursor  # nothing new: the same place to poll from


async def test_rules_travel_with_a_list_and_the_feed_of_one_list(
    server: LiveServer, twin: TwinFactory
) -> None:
    client, token = account(server, twin, "rules")
    rules = WatchRules(kinds=[ChangeKind.PRICE_DROP], drop_percent=Decimal(5), cooldown_seconds=0)
    watch = client.client.watch
    if isinstance(client.client, AsyncClient):
        made = await watch.create(
            "deals", interval_seconds=3600, daily_budget="1", items=[ITEM], rules=rules
        )  # type: ignore[misc]
    else:
        made = await asyncio.to_thread(
            watch.create,
            "deals",
            interval_seconds=3600,
            daily_budget="1",
            items=[ITEM],
            rules=rules,
        )
    assert made.rules == rules
    await observe(server, token, "699.00")
    await observe(server, token, "600.00")
    await observe(server, token, "590.00")
    got = await read(client.client.changes(list_name="deals"))
    assert [e.notifies("deals") for e in got] == [True, False]  # -14 %, then -1.7 %
    with pytest.raises(errors.APIError) as raised:
        await read(client.client.changes(list_name="other"))
    assert raised.value.code == 404
    with pytest.raises(errors.APIError) as bad:
        await read(client.client.changes(since="yesterday"))
    assert bad.value.code == 400
