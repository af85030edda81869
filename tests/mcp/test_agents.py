"""``jditem mcp`` driven by the MCP SDK's own client, over stdio and streamable HTTP,
against a real jditem server on loopback.

Each test starts ``jditem mcp -v`` as a subprocess (tests/support/mcp_agent.py); when it
ends, the token is checked absent from every result, resource and log line.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.live_server import LiveServer, live_server
from tests.support.mcp_agent import ITEM, OTHER, THIRD, Transport, account, agent, charged_units
from tests.support.waiting import await_until

UNSUPPORTED = "100000000202"
PRICE = 100  # units: the live server's default price (0.01 yuan)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server(sandbox_unsupported_ids=[UNSUPPORTED], sandbox_drift=False) as live:
        yield live


@pytest.fixture(scope="module")
def slow_server() -> Iterator[LiveServer]:
    """Collection takes 12 s and a call waits 0.05 s: a first answer is always pending."""
    with live_server(
        sandbox_latency_ms=(12_000, 12_000), wait_seconds=0.05, retry_after_seconds=1
    ) as live:
        yield live


def calls_for(server: LiveServer, item_id: str, name: str) -> int:
    """Calls the server recorded for ``item_id`` from ``name``'s tokens."""
    count: int = server.scalar(
        "SELECT COUNT(*) FROM call_records r JOIN accounts a ON a.id = r.account_id "
        "WHERE r.item_id = :i AND a.name = :n",
        i=item_id,
        n=name,
    )
    return count


async def test_tools_and_resources_are_listed_with_schemas(
    server: LiveServer, transport: Transport
) -> None:
    _, token = account(server)
    async with agent(transport, base_url=server.base_url, token=token) as a:
        tools = {tool.name: tool for tool in (await a.client.list_tools()).tools}
        assert {"get_product", "get_products"} <= set(tools)  # all: test_monitoring_agents
        one, many = tools["get_product"], tools["get_products"]
        assert set(one.input_schema["properties"]) == {"item", "continuation", "max_age_minutes"}
        assert "description" in one.input_schema["properties"]["item"]
        items = many.input_schema["properties"]["items"]
        assert (items["minItems"], items["maxItems"]) == (1, 50)
        assert many.input_schema["required"] == ["items"]
        for tool in (one, many):
            assert tool.description is not None
            assert "Costs money" in tool.description
            assert "1.00 yuan" in tool.description  # the default spending limit
            assert tool.annotations is not None
            assert tool.annotations.read_only_hint is False
        templates = (await a.client.list_resource_templates()).resource_templates
        assert "jditem://item/{item_id}" in [t.uri_template for t in templates]


async def test_get_product_returns_the_product_and_what_it_cost(
    server: LiveServer, transport: Transport
) -> None:
    name, token = account(server)
    async with agent(transport, base_url=server.base_url, token=token) as a:
        with pytest.raises(Exception, match="not been fetched in this session"):
            await a.read(f"jditem://item/{ITEM}")  # free: never a call
        assert calls_for(server, ITEM, name) == 0

        result = await a.call("get_product", item=f"https://item.jd.com/{ITEM}.html")
        assert not result.is_error, result.content
        body = result.structured_content
        assert body["status"] == "ok"
        assert body["source"] == "api"
        assert body["product"]["sku_id"] == ITEM
        assert "raw" not in body["product"]
        assert isinstance(body["product"]["price"]["original"], str)  # yuan as a string
        assert body["cost"]["charged"] is True
        assert body["cost"]["yuan"] == "0.01"
        assert body["budget"] == {
            "limit_yuan": "1.00",
            "spent_yuan": "0.01",
            "uncertain_yuan": "0.00",
            "left_yuan": "0.99",
            "price_yuan": "0.01",
        }
        assert "charged 0.01 yuan" in result.content[0].text
        assert charged_units(server, name) == PRICE

        again = await a.call("get_product", item=ITEM)
        assert again.structured_content["source"] == "session"
        assert again.structured_content["cost"] == {"charged": False, "yuan": "0.00", "calls": 0}
        assert ITEM in await a.read(f"jditem://item/{ITEM}")

        fresh = await a.call("get_product", item=ITEM, max_age_minutes=0)
        assert fresh.structured_content["source"] == "api"
        assert fresh.structured_content["budget"]["spent_yuan"] == "0.02"
        assert charged_units(server, name) == 2 * PRICE

        for arguments in ({"item": "not an item"}, {"continuation": "nonsense"}, {}):
            bad = await a.call("get_product", **arguments)
            assert bad.is_error
            assert bad.content[0].text.startswith("ConfigurationError: ")
            assert "Fix the argument" in bad.content[0].text


async def test_get_products_answers_per_item_and_charges_each_once(
    server: LiveServer, transport: Transport
) -> None:
    name, token = account(server)
    async with agent(transport, base_url=server.base_url, token=token) as a:
        items = [ITEM, f"https://item.jd.com/{ITEM}.html", UNSUPPORTED, "12ab", OTHER]
        result = await a.call("get_products", items=items)
        assert not result.is_error, result.content
        body = result.structured_content
        assert [(r["item_id"], r["status"]) for r in body["results"]] == [
            (ITEM, "ok"),
            (UNSUPPORTED, "error"),
            ("12ab", "error"),
            (OTHER, "ok"),
        ]
        unsupported, invalid = body["results"][1]["error"], body["results"][2]["error"]
        assert unsupported["type"] == "ItemNotSupportedError"
        assert "Do not ask for this item again" in unsupported["what_to_do"]
        assert invalid["type"] == "ConfigurationError"
        assert body["cost"] == {"yuan": "0.02", "charged_items": 2, "possibly_charged_items": 0}
        assert charged_units(server, name) == 2 * PRICE
        assert calls_for(server, "12ab", name) == 0

        too_many = await a.call("get_products", items=[str(10**11 + n) for n in range(51)])
        assert too_many.is_error
        assert "50" in too_many.content[0].text


async def test_the_session_limit_refuses_before_any_call(
    server: LiveServer, transport: Transport
) -> None:
    name, token = account(server)
    args = ["--max-spend-yuan", "0.02", "--price-yuan", "0.01"]
    async with agent(transport, base_url=server.base_url, token=token, args=args) as a:
        assert not (await a.call("get_product", item=ITEM)).is_error

        refused = await a.call("get_products", items=[OTHER, THIRD])
        assert refused.is_error
        assert refused.structured_content["status"] == "refused"
        text = refused.content[0].text
        assert "Refused before any call was made" in text
        assert "At most 1 item(s) fit" in text
        assert "--max-spend-yuan" in text

        assert not (await a.call("get_product", item=OTHER)).is_error
        last = await a.call("get_product", item=THIRD)
        assert last.is_error
        assert "Nothing more can be fetched in this session" in last.content[0].text
        assert last.structured_content["budget"]["left_yuan"] == "0.00"

        reused = await a.call("get_products", items=[ITEM, OTHER])  # free: already fetched
        assert not reused.is_error
        assert reused.structured_content["cost"]["yuan"] == "0.00"
    assert charged_units(server, name) == 2 * PRICE
    assert calls_for(server, THIRD, name) == 0


async def test_a_wrong_token_is_a_tool_error_that_says_to_stop(
    server: LiveServer, transport: Transport
) -> None:
    wrong = "jdi_" + secrets.token_urlsafe(24)
    async with agent(transport, base_url=server.base_url, token=wrong) as a:
        one = await a.call("get_product", item=ITEM)
        assert one.is_error
        assert one.content[0].text.startswith("InvalidTokenError: ")
        assert "Stop fetching" in one.content[0].text
        assert one.structured_content["error"]["code"] == 100
        assert one.structured_content["budget"]["spent_yuan"] == "0.00"
        many = await a.call("get_products", items=[ITEM, OTHER])
        assert many.is_error
        assert many.structured_content["status"] == "stopped"
        assert many.structured_content["error"]["type"] == "InvalidTokenError"
        assert "Traceback" not in a.log()


async def test_a_pending_item_comes_back_with_a_continuation(
    slow_server: LiveServer, transport: Transport
) -> None:
    """The sandbox needs 12 s, the tool waits 5 s: pending first, then resumed to a
    product, charged once."""
    name, token = account(slow_server)
    item, other = (
        ("100000000101", "100000000102")
        if transport == "stdio"
        else (
            "100000000201",
            "100000000203",
        )
    )
    args = ["--tool-deadline", "5"]
    async with agent(transport, base_url=slow_server.base_url, token=token, args=args) as a:
        first = await a.call("get_product", item=item)
        assert not first.is_error, first.content
        body = first.structured_content
        assert body["status"] == "pending"
        assert body["cost"]["charged"] is False
        assert "still being collected" in first.content[0].text
        continuation = body["continuation"]
        assert continuation.startswith("jdc1.")  # opaque: no JSON for an agent to unpack
        assert f"continuation={continuation}" in first.content[0].text

        many = await a.call("get_products", items=[other])
        assert many.structured_content["results"][0]["status"] in ("pending", "not_fetched")

        async def resumed() -> dict[str, Any] | None:
            result = await a.call("get_product", continuation=continuation)
            assert not result.is_error, result.content
            answer: dict[str, Any] = result.structured_content
            return answer if answer["status"] == "ok" else None

        done = await await_until(resumed, what="the item to be collected", timeout=120)
        assert done["product"]["sku_id"] == item
        assert done["cost"]["charged"] is True
        assert done["budget"]["spent_yuan"] == "0.01"
    assert charged_units(slow_server, name) == PRICE
