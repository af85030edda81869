"""``client.watch`` on both twins against a real server (loopback): the same I/O-free
core builds every request and reads every answer; errors are the library's own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from jditem import AsyncClient, errors
from jditem.client.watch import WatchCore
from jditem.protocol.monitoring import PausedReason
from tests.client.conftest import SECRETS, Twin, TwinFactory, record_raised
from tests.support.live_server import LiveServer, live_server


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server(watch_scheduler=False, watch_min_interval_seconds=60) as live:
        yield live


async def watch(twin: Twin, name: str, *args: Any, **kwargs: Any) -> Any:
    method = getattr(twin.client.watch, name)
    try:
        if isinstance(twin.client, AsyncClient):
            return await method(*args, **kwargs)
        return await asyncio.to_thread(method, *args, **kwargs)
    except Exception as exc:
        record_raised(exc)
        raise


async def test_a_list_from_creation_to_deletion(server: LiveServer, twin: TwinFactory) -> None:
    token = server.make_token(f"client-{id(twin)}")
    SECRETS.add(token)
    client = twin(token=token, base_url=server.base_url)
    made = await watch(
        client, "create", "desk", interval_seconds=600, daily_budget="2.50", items=["100012043978"]
    )
    assert made.name == "desk"
    assert made.daily_budget == Decimal("2.5")
    assert made.status.items == 1
    added = await watch(
        client,
        "add",
        "desk",
        ["https://item.jd.com/100008348542.html"],
        text="itemId\n100000000009\nbad\n",
        input_format="csv",
    )
    assert (added.added, added.already_there, added.skipped_total) == (2, 0, 1)
    page, after = await watch(client, "items", "desk", limit=2)
    assert [i.item_id for i in page] == ["100000000009", "100008348542"]
    assert after == "100008348542"
    paused = await watch(client, "pause", "desk")
    assert paused.status.paused_reason is PausedReason.USER
    resumed = await watch(client, "resume", "desk")
    assert resumed.status.paused is False
    changed = await watch(client, "update", "desk", daily_budget=Decimal("3"))
    assert changed.daily_budget == Decimal("3")
    assert [wl.name for wl in await watch(client, "list")] == ["desk"]
    assert await watch(client, "remove", "desk", ["100000000009"]) == 1
    await watch(client, "delete", "desk")
    with pytest.raises(errors.EndpointNotFoundError, match="no watch list named 'desk'") as info:
        await watch(client, "show", "desk")
    assert info.value.code == 404
    assert info.value.request_id


async def test_errors_are_the_library_s(server: LiveServer, twin: TwinFactory) -> None:
    client = twin(token="tok_FAKE_s3cr3t_9f8e7d6c5b4a", base_url=server.base_url)
    with pytest.raises(errors.InvalidTokenError):
        await watch(client, "list")
    token = server.make_token(f"client-bad-{id(twin)}")
    SECRETS.add(token)
    good = twin(token=token, base_url=server.base_url)
    with pytest.raises(errors.InvalidParametersError, match="intervalSeconds"):
        await watch(good, "create", "x", interval_seconds=1, daily_budget="1")
    with pytest.raises(errors.ConfigurationError, match="never a float"):
        await watch(good, "create", "x", interval_seconds=600, daily_budget=1.5)


def test_the_core_builds_requests_without_io() -> None:
    from jditem.client.base import BaseClient
    from jditem.client.config import ClientConfig

    core = WatchCore(BaseClient(ClientConfig.build("tok_x", base_url="http://127.0.0.1:9")))
    request = core.update("a b/c", paused=True)
    assert (request.method, request.url) == (
        "PATCH",
        "http://127.0.0.1:9/api/watch/lists/a%20b%2Fc",
    )
    assert request.json == {"paused": True}
    assert request.headers["Authorization"] == "Bearer tok_x"
    with pytest.raises(errors.ProtocolError, match="not a jditem envelope"):
        core.data(200, {}, b"<html>")


async def test_an_adaptive_list_on_both_twins(server: LiveServer, twin: TwinFactory) -> None:
    token = server.make_token(f"client-adaptive-{id(twin)}")
    SECRETS.add(token)
    client = twin(token=token, base_url=server.base_url)
    made = await watch(
        client,
        "create",
        "adaptive",
        min_interval_seconds=600,
        max_interval_seconds=86_400,
        daily_budget="1",
        items=["100012043978"],
    )
    assert made.schedule.mode == "adaptive"
    assert (made.schedule.min_interval_seconds, made.schedule.max_interval_seconds) == (600, 86_400)
    assert (made.status.checks, made.status.charges_per_change) == (0, None)
    changed = await watch(client, "update", "adaptive", within_seconds=7200)
    assert changed.schedule.within_seconds == 7200
    (item,), _ = await watch(client, "items", "adaptive")
    assert (item.interval_seconds, item.checks, item.changes) == (None, 0, 0)
    fixed = await watch(client, "update", "adaptive", interval_seconds=3600)
    assert fixed.schedule.mode == "fixed"
    (item,), _ = await watch(client, "items", "adaptive")
    assert item.interval_seconds == 3600
    with pytest.raises(errors.InvalidParametersError, match="minIntervalSeconds"):
        await watch(client, "update", "adaptive", min_interval_seconds=600)


def test_the_core_sends_the_schedule_it_is_given() -> None:
    from jditem.client.base import BaseClient
    from jditem.client.config import ClientConfig

    core = WatchCore(BaseClient(ClientConfig.build("tok_x", base_url="http://127.0.0.1:9")))
    request = core.create(
        "n", daily_budget="1", min_interval_seconds=600, max_interval_seconds=3600
    )
    assert request.json == {
        "name": "n",
        "minIntervalSeconds": 600,
        "maxIntervalSeconds": 3600,
        "dailyBudget": "1",
        "items": [],
    }
    assert core.update("n", within_seconds=0).json == {"withinSeconds": 0}
