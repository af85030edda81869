"""``client.changes(since=cursor)`` on both twins against a real server (loopback): every
event in order across pages, a cursor that resumes after a ``break`` mid-page without
loss or repeats, a list's events only, rules sent with a list, and typed errors."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from pathlib import Path

import pytest

from jditem import AsyncClient, errors
from jditem.client.changes import AsyncChangeFeed, ChangeFeed
from jditem.protocol.monitoring import ChangeEvent, ChangeKind, WatchRules
from tests.client.conftest import Twin, TwinFactory
from tests.support.live_server import LiveServer
from tests.support.monitoring import ITEM, Changer

PRICES = ["650.00", "700.00", "640.00", "710.00", "630.00"]


@pytest.fixture(scope="module")
def server(changing_world: Changer) -> LiveServer:
    return changing_world.live


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
    server: LiveServer, changing_world: Changer, twin: TwinFactory
) -> None:
    client, token = account(server, twin, "feed")
    await changing_world.observe_async(token, "699.00")  # the baseline
    for price in PRICES:
        await changing_world.observe_async(token, price)
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
    server: LiveServer, changing_world: Changer, twin: TwinFactory
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
    await changing_world.observe_async(token, "699.00")
    await changing_world.observe_async(token, "600.00")
    await changing_world.observe_async(token, "590.00")
    got = await read(client.client.changes(list_name="deals"))
    assert [e.notifies("deals") for e in got] == [True, False]  # -14 %, then -1.7 %
    with pytest.raises(errors.APIError) as raised:
        await read(client.client.changes(list_name="other"))
    assert raised.value.code == 404
    with pytest.raises(errors.APIError) as bad:
        await read(client.client.changes(since="yesterday"))
    assert bad.value.code == 400


README = Path(__file__).parents[2] / "README.md"


def readme_consumer() -> str:
    """The Python example of the README's "Change alerts — the pull feed" section."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Change alerts — the pull feed") :]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found, "the section has no python example"
    return found.group(1)


async def test_the_readme_consumer_resumes_where_it_stopped(
    server: LiveServer,
    changing_world: Changer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = server.make_token("readme-feed")
    body = {"name": "phones", "intervalSeconds": 3600, "dailyBudget": "1", "items": [ITEM]}
    made = server.http.post(
        "/api/watch/lists", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert made.json()["code"] == 0
    for price in ("699.00", "650.00", "640.00"):
        await changing_world.observe_async(token, price)
    monkeypatch.setenv("JDITEM_BASE_URL", server.base_url)
    monkeypatch.setenv("JDITEM_TOKEN", token)
    monkeypatch.chdir(tmp_path)
    code = compile(readme_consumer(), str(README), "exec")

    def run() -> list[str]:
        exec(code, {"__name__": "readme"})
        return capsys.readouterr().out.splitlines()

    first = await asyncio.to_thread(run)
    assert len(first) == 1  # 650 notified; 640 fell in the 6 h cooldown of price_drop
    assert ITEM in first[0]
    assert "price_drop" in first[0]
    assert (tmp_path / "jditem-cursor.txt").read_text().startswith("evt_")
    assert await asyncio.to_thread(run) == []  # nothing new since the saved cursor
    # a rise notifies (default rules: every kind)
    await changing_world.observe_async(token, "700.00")
    [again] = await asyncio.to_thread(run)
    assert "price_rise" in again
