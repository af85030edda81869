"""``McpSession`` against a real server whose collection is slow: deadlines and
cancellation settle the spending limit and leave no call running."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from jditem import AsyncClient, errors
from jditem.mcp import McpSession, McpSettings
from tests.support.fault_server import FaultServer, Reply
from tests.support.live_server import LiveServer, live_server
from tests.support.waiting import await_until

FIXTURE = Path(__file__).parents[1] / "fixtures" / "jd-detail-v1-abridged.json"
SKU = "100117219515"


@pytest.fixture(scope="module")
def slow_server() -> Iterator[LiveServer]:
    """Collection takes 30 s and a call waits 0.05 s: every answer here is pending."""
    with live_server(
        sandbox_latency_ms=(30_000, 30_000), wait_seconds=0.05, retry_after_seconds=1
    ) as live:
        yield live


def items(count: int) -> list[str]:
    return [str(10**11 + secrets.randbelow(10**10)) for _ in range(count)]


def calls_for(server: LiveServer, ids: list[str]) -> int:
    marks = ",".join(f"'{i}'" for i in ids)
    count: int = server.scalar(f"SELECT COUNT(*) FROM call_records WHERE item_id IN ({marks})")
    return count


async def test_get_products_at_its_deadline_returns_every_item_uncharged(
    slow_server: LiveServer,
) -> None:
    settings = McpSettings(tool_deadline=2.0, concurrency=1)
    ids = items(8)
    async with AsyncClient(slow_server.make_token(), base_url=slow_server.base_url) as client:
        session = McpSession(client, settings)
        outcomes, stopped = await session.fetch_many(ids, max_age_s=None)
    assert stopped is None
    assert [o.item_id for o in outcomes] == ids
    assert {o.status for o in outcomes} <= {"pending", "not_fetched"}
    assert session.budget.reserved_units == 0
    assert session.budget.spent_units == 0


async def test_a_cancelled_tool_call_stops_its_calls_and_releases_its_hold(
    slow_server: LiveServer,
) -> None:
    settings = McpSettings(tool_deadline=60.0, concurrency=2)
    ids = items(6)
    async with AsyncClient(slow_server.make_token(), base_url=slow_server.base_url) as client:
        session = McpSession(client, settings)
        task = asyncio.create_task(session.fetch_many(ids, max_age_s=None))
        await await_until(
            lambda: calls_for(slow_server, ids) >= len(ids), what="every item to be polling"
        )
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert session.budget.reserved_units == 0
        # a call on the wire when cancelled may have been charged; nothing else counts
        assert session.budget.charged_units == 0
        assert session.budget.uncertain_units <= 2 * settings.price_units
        after = calls_for(slow_server, ids)
        # a marker: one more pending round trip (the server answers in order of time);
        # an orphaned run would poll every second meanwhile
        marker = items(1)
        outcome = await McpSession(client, McpSettings(tool_deadline=2.5)).fetch_one(marker[0])
        assert outcome.status == "pending"
    assert calls_for(slow_server, ids) == after


async def test_a_resume_carries_the_key_of_the_fetch_it_continues() -> None:
    """A resumed item's calls carry the ``Idempotency-Key`` of its first fetch, so a charged
    answer lost during the resume is replayed free by a server that honours keys; and the
    resume's calls are counted like a fetch's (``before_call``: no call assumed in flight)."""
    pending = Reply.envelope(102, {"taskId": "t_1", "retryAfter": 0.01}, status=202)
    product = json.loads(FIXTURE.read_text(encoding="utf-8"))["data"]
    with FaultServer([pending, Reply.envelope(0, product)]) as server:
        async with AsyncClient(
            "tok-test", base_url=server.base_url, max_calls_per_item=1
        ) as client:
            session = McpSession(client, McpSettings())
            first = await session.fetch_one(SKU)
            assert first.status == "pending"
            assert isinstance(first.error, errors.PendingTimeoutError)
            resumed = await session.fetch_one(continuation=first.error.continuation)
    assert resumed.status == "ok"
    assert (resumed.tally.calls, resumed.tally.charged, resumed.tally.uncertain) == (1, 1, 0)
    keys = [request.headers.get("idempotency-key") for request in server.requests]
    assert len(keys) == 2
    assert keys[0] is not None
    assert keys[0] == keys[1]
