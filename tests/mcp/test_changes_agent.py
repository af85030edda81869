"""The ``changes`` tool, driven by the MCP SDK's own client over stdio and streamable HTTP
against a real jditem server on loopback whose item prices the test scripts (a frozen
clock and a scripted collector: tests/support/monitoring.py): events in order, a
cursor that resumes without loss or repeats, one list's events, and tool errors."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.support.live_server import LiveServer
from tests.support.mcp_agent import Transport, agent, text
from tests.support.monitoring import ITEM, Changer


@pytest.fixture(scope="module")
def server(changing_world: Changer) -> LiveServer:
    return changing_world.live


def prices(result: Any) -> list[tuple[Any, Any]]:
    """(before, after) of the current price in each event of a ``changes`` result."""
    return [
        (change["before"], change["after"])
        for event in result.structured_content["events"]
        for change in event["changes"]
        if change["field"] == "price_current"
    ]


async def test_changes_come_in_order_with_a_cursor_that_resumes(
    server: LiveServer, changing_world: Changer, transport: Transport
) -> None:
    token = server.make_token(f"c{secrets.token_hex(4)}")
    for price in ("699.00", "650.00", "700.00"):  # a baseline, then two changes
        await changing_world.observe_async(token, price)
    async with agent(transport, base_url=server.base_url, token=token) as a:
        [tool] = [t for t in (await a.client.list_tools()).tools if t.name == "changes"]
        assert set(tool.input_schema["properties"]) == {"since_cursor", "list", "max_events"}
        assert tool.description is not None
        assert "Free" in tool.description
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is True
        everything = await a.call("changes")
        assert not everything.is_error, everything.content
        body = everything.structured_content
        assert prices(everything) == [("699.00", "650.00"), ("650.00", "700.00")]
        assert body["events"][0]["kinds"] == ["price_drop", "new_low"]
        assert body["events"][0]["item_id"] == ITEM
        assert body["has_more"] is False
        assert body["cursor"] == body["events"][-1]["id"]
        assert text(everything).startswith(f"2 change(s): item {ITEM}: price_current 699.00")
        assert f"Next time, call changes with since_cursor={body['cursor']}" in text(everything)

        first = await a.call("changes", max_events=1)
        assert prices(first) == [("699.00", "650.00")]
        assert first.structured_content["has_more"] is True
        assert "More are waiting: call changes again now" in text(first)
        rest = await a.call("changes", since_cursor=first.structured_content["cursor"])
        assert prices(rest) == [("650.00", "700.00")]

        await changing_world.observe_async(token, "640.00")
        newer = await a.call("changes", since_cursor=body["cursor"])
        assert prices(newer) == [("700.00", "640.00")]
        cursor = newer.structured_content["cursor"]
        quiet = await a.call("changes", since_cursor=cursor)
        assert quiet.structured_content["events"] == []
        assert quiet.structured_content["cursor"] == cursor  # poll again from the same place
        assert text(quiet).startswith("No changes since that cursor.")


async def test_one_lists_changes_and_the_errors(
    server: LiveServer, changing_world: Changer, transport: Transport
) -> None:
    token = server.make_token(f"c{secrets.token_hex(4)}")
    await changing_world.observe_async(token, "699.00")
    async with agent(transport, base_url=server.base_url, token=token) as a:
        made = await a.call(
            "watch_add", list="deals", items=[ITEM], interval_minutes=60, daily_budget_yuan="1"
        )
        assert not made.is_error, made.content
        await changing_world.observe_async(token, "600.00")
        deals = await a.call("changes", list="deals")
        assert not deals.is_error, deals.content
        assert prices(deals) == [("699.00", "600.00")]
        assert deals.structured_content["events"][0]["notify_lists"] == ["deals"]

        unknown = await a.call("changes", list="phones")
        assert unknown.is_error
        assert "There is no watch list named 'phones'" in text(unknown)
        assert "its lists: deals" in text(unknown)
        bad = await a.call("changes", since_cursor="yesterday")
        assert bad.is_error
        assert text(bad).startswith("InvalidParametersError: ")
        assert "Fix the argument" in text(bad)

    wrong = "jdi_" + secrets.token_urlsafe(24)
    async with agent(transport, base_url=server.base_url, token=wrong) as a:
        refused = await a.call("changes")
        assert refused.is_error
        assert text(refused).startswith("InvalidTokenError: ")
        assert refused.structured_content["error"]["code"] == 100
