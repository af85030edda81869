"""``price_history``, ``watch_add``, ``watch_status`` and ``jditem://watch/{name}``, driven
by the MCP SDK's own client over stdio and streamable HTTP against a real jditem server
on loopback (tests/support/mcp_agent.py: the token is checked absent from every result,
resource and log line when each agent ends)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.live_server import LiveServer, live_server
from tests.support.mcp_agent import (
    ITEM,
    OTHER,
    THIRD,
    Transport,
    account,
    agent,
    charged_units,
    text,
)
from tests.support.waiting import await_until

NEW_TOOLS = {"price_history", "watch_add", "watch_status"}


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    """No drift (a fetched item keeps its state) and no scheduler (no check spends)."""
    with live_server(sandbox_drift=False, watch_scheduler=False) as live:
        yield live


async def test_the_new_tools_and_the_watch_resource_are_listed(
    server: LiveServer, transport: Transport
) -> None:
    _, token = account(server)
    async with agent(transport, base_url=server.base_url, token=token) as a:
        tools = {tool.name: tool for tool in (await a.client.list_tools()).tools}
        assert set(tools) == {"get_product", "get_products", "changes", *NEW_TOOLS}
        history, add, status = (tools[name] for name in sorted(NEW_TOOLS))
        assert set(history.input_schema["properties"]) == {"item", "since", "limit"}
        assert history.input_schema["required"] == ["item"]
        assert set(add.input_schema["properties"]) == {
            "list",
            "items",
            "interval_minutes",
            "daily_budget_yuan",
        }
        assert add.input_schema["required"] == ["list", "items"]
        assert set(status.input_schema["properties"]) == {"list"}
        assert add.description is not None
        assert "Spends money later" in add.description
        assert "within the list's daily budget" in add.description
        assert "1.00 yuan" in add.description  # the default --max-list-budget-yuan
        for read in (history, status):
            assert read.description is not None
            assert "Free" in read.description
            assert read.annotations is not None
            assert read.annotations.read_only_hint is True
        assert add.annotations is not None
        assert add.annotations.read_only_hint is False
        templates = (await a.client.list_resource_templates()).resource_templates
        assert {t.uri_template for t in templates} == {
            "jditem://item/{item_id}",
            "jditem://watch/{name}",
        }


async def test_price_history_shows_what_the_account_received_free(
    server: LiveServer, transport: Transport
) -> None:
    name, token = account(server)
    async with agent(transport, base_url=server.base_url, token=token) as a:
        never = await a.call("price_history", item=OTHER)
        assert not never.is_error, never.content
        assert never.structured_content["change_points"] == 0
        assert "No history for item" in text(never)
        assert "get_product" in text(never)

        fetched = await a.call("get_product", item=ITEM)
        price = fetched.structured_content["product"]["price"]
        assert price["masked"] is True  # the sandbox shows the list price only, like JD
        spent = charged_units(server, name)

        async def recorded() -> Any:
            result = await a.call("price_history", item=f"https://item.jd.com/{ITEM}.html")
            assert not result.is_error, result.content
            return result if result.structured_content["change_points"] else None

        result = await await_until(recorded, what="the fetch to be in the history")
        body = result.structured_content
        assert body["item_id"] == ITEM
        assert body["since"] is not None  # the default window, 30d, as a time
        assert body["latest"]["price"] is None
        assert body["latest"]["price_masked"] is True
        assert body["latest"]["list_price"] == price["original"]
        assert "lowest" not in body  # no known current price: a masked one is unknown
        assert f"latest price masked by JD (list price {price['original']} yuan)" in text(result)
        assert "This read was free" in text(result)

        dated = await a.call("price_history", item=ITEM, since="2020-01-01", limit=5)
        assert dated.structured_content["since"] == "2020-01-01"
        assert dated.structured_content["change_points"] == 1
        everything = await a.call("price_history", item=ITEM, since="")
        assert everything.structured_content["since"] is None

        bad = await a.call("price_history", item=ITEM, since="last month")
        assert bad.is_error
        assert text(bad).startswith("ConfigurationError: ")
        assert "30d" in text(bad)
        assert "Fix the argument" in text(bad)
        assert charged_units(server, name) == spent  # reading history is free


async def test_watch_add_creates_the_list_then_adds_and_changes_it(
    server: LiveServer, transport: Transport
) -> None:
    _, token = account(server)
    async with agent(transport, base_url=server.base_url, token=token) as a:
        missing = await a.call("watch_add", list="phones", items=[ITEM])
        assert missing.is_error
        assert "There is no watch list named 'phones'" in text(missing)
        assert "it has none yet" in text(missing)
        assert "interval_minutes and daily_budget_yuan" in text(missing)

        created = await a.call(
            "watch_add",
            list="phones",
            items=[ITEM, f"https://item.jd.com/{OTHER}.html", "not-an-item"],
            interval_minutes=60,
            daily_budget_yuan="0.50",
        )
        assert not created.is_error, created.content
        body = created.structured_content
        assert body["status"] == "created"
        assert (body["added"], body["already_there"], body["skipped_total"]) == (2, 0, 1)
        view = body["list"]
        assert view["interval_minutes"] == 60
        assert view["daily_budget_yuan"] == "0.5000"
        assert view["items"] == 2
        assert sorted(view["item_ids"]) == sorted([ITEM, OTHER])
        assert view["full_day_checks"] == 48
        assert view["full_day_cost_yuan"] == "0.48"
        assert text(created).startswith("Created watch list 'phones': 2 item(s) added")
        assert "not this session's limit" in text(created)

        again = await a.call("watch_add", list="phones", items=[ITEM, THIRD])
        assert again.structured_content["status"] == "added"
        assert (again.structured_content["added"], again.structured_content["already_there"]) == (
            1,
            1,
        )
        changed = await a.call(
            "watch_add", list="phones", items=[ITEM], interval_minutes=30, daily_budget_yuan=1
        )
        assert changed.structured_content["status"] == "updated"
        assert changed.structured_content["list"]["interval_minutes"] == 30
        assert changed.structured_content["list"]["daily_budget_yuan"] == "1.0000"

        over = await a.call("watch_add", list="phones", items=[ITEM], daily_budget_yuan="5")
        assert over.is_error
        assert over.structured_content["status"] == "refused"
        assert "above the most this session may give a watch list (1.00 yuan" in text(over)
        assert "--max-list-budget-yuan" in text(over)

        status = await a.call("watch_status", list="phones")
        assert not status.is_error, status.content
        shown = status.structured_content["list"]
        assert shown["daily_budget_yuan"] == "1.0000"  # the refused change was not made
        assert shown["items"] == 3
        assert shown["paused"] is False
        assert "3 item(s) checked every 30 min within 1.0000 yuan a day" in text(status)

        resource = json.loads(await a.read("jditem://watch/phones"))
        assert resource == shown

        every = await a.call("watch_status")
        assert [entry["list"] for entry in every.structured_content["lists"]] == ["phones"]


async def test_an_unknown_list_is_a_tool_error_naming_the_lists(
    server: LiveServer, transport: Transport
) -> None:
    _, token = account(server)
    args = ["--max-list-budget-yuan", "5"]
    async with agent(transport, base_url=server.base_url, token=token, args=args) as a:
        made = await a.call(
            "watch_add", list="tvs", items=[ITEM], interval_minutes=1440, daily_budget_yuan=5
        )
        assert not made.is_error, made.content
        unknown = await a.call("watch_status", list="phones")
        assert unknown.is_error
        assert text(unknown).startswith(
            "There is no watch list named 'phones' in this account (its lists: tvs)."
        )
        assert unknown.structured_content["error"]["lists"] == ["tvs"]
        with pytest.raises(Exception, match="no watch list named 'phones'"):
            await a.read("jditem://watch/phones")
        bad_name = await a.call("watch_add", list="no/slashes", items=[ITEM])
        assert bad_name.is_error  # refused by the schema before any call


async def test_a_wrong_token_is_a_tool_error_that_says_to_stop(
    server: LiveServer, transport: Transport
) -> None:
    wrong = "jdi_" + secrets.token_urlsafe(24)
    async with agent(transport, base_url=server.base_url, token=wrong) as a:
        calls: list[tuple[str, dict[str, Any]]] = [
            ("price_history", {"item": ITEM}),
            ("watch_status", {"list": "phones"}),
            ("watch_status", {}),
            (
                "watch_add",
                {
                    "list": "phones",
                    "items": [ITEM],
                    "interval_minutes": 60,
                    "daily_budget_yuan": "0.5",
                },
            ),
        ]
        for tool, arguments in calls:
            result = await a.call(tool, **arguments)
            assert result.is_error, (tool, result.content)
            assert text(result).startswith("InvalidTokenError: "), (tool, text(result))
            assert "tell the user" in text(result).lower()
            assert result.structured_content["error"]["code"] == 100
        with pytest.raises(Exception, match="InvalidTokenError"):
            await a.read("jditem://watch/phones")
        assert "Traceback" not in a.log()


async def test_a_server_without_history_or_watch_lists_is_named_as_the_wrong_server(
    server: LiveServer, transport: Transport
) -> None:
    """Under another path every answer is the envelope's 404, as from a server (or the
    vendor) without these endpoints: not an unknown list, the wrong server."""
    _, token = account(server)
    elsewhere = server.base_url + "/not-jditem"
    async with agent(transport, base_url=elsewhere, token=token) as a:
        for tool, arguments in (
            ("price_history", {"item": ITEM}),
            ("watch_status", {"list": "phones"}),
            ("watch_add", {"list": "phones", "items": [ITEM]}),
        ):
            result = await a.call(tool, **arguments)
            assert result.is_error, (tool, result.content)
            assert text(result).startswith("EndpointNotFoundError: "), (tool, text(result))
            assert "need a jditem server" in text(result)
            assert "There is no watch list" not in text(result)
