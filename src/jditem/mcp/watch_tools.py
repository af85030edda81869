"""The watch-list tools: ``watch_add`` and ``watch_status`` (``client.watch``, SPEC §6.2).

Managing lists is free; the checks of a list are made later by the jditem server, on
its schedule, charged to the account within the list's own daily budget — not against
this session's spending limit (:mod:`jditem.mcp.budget`), which covers only the calls
this process makes. So the money a model can commit here is bounded separately: a daily
budget above ``--max-list-budget-yuan`` is refused before anything is sent.
"""

# No ``from __future__ import annotations``: the SDK reads these annotations at runtime.

from decimal import Decimal
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from jditem import errors
from jditem.client.watch import AddedItems
from jditem.mcp import results
from jditem.mcp.budget import format_yuan, parse_yuan
from jditem.mcp.history_tool import READS
from jditem.mcp.session import McpSession
from jditem.mcp.watch_view import (
    CHECK_OR_CREATE,
    SHOWN_ITEMS,
    SHOWN_NAMES,
    UnknownListError,
    find_list,
    list_summary,
    list_view,
)
from jditem.protocol.monitoring import plain_decimal

#: Most items one ``watch_add`` call may add.
MAX_WATCH_ITEMS = 1000

ListName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="The watch list's name: letters, digits, '.', '_' or '-' (e.g. phones).",
    ),
]
WatchItems = Annotated[
    list[Annotated[str, Field(max_length=300)]],
    Field(
        min_length=1,
        max_length=MAX_WATCH_ITEMS,
        description=f"1 to {MAX_WATCH_ITEMS} JD item ids or JD item page URLs to watch.",
    ),
]
IntervalMinutes = Annotated[
    int | None,
    Field(
        ge=5,
        le=43_200,
        description="Minutes between two checks of each item (60 = hourly, 1440 = daily; "
        "at least 5). Needed to create the list; on an existing list it changes the "
        "interval. Omit to keep it.",
    ),
]
DailyBudget = Annotated[
    Decimal | None,
    Field(
        ge=0,
        le=10**8,
        decimal_places=4,
        description="The most the list's checks may spend per day, in yuan, e.g. '2.00'. "
        "Needed to create the list; on an existing list it changes the budget. Omit to "
        "keep it.",
    ),
]

#: Creates or changes a list that spends the user's money later: not read-only.
CHANGES_A_LIST = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)

WATCH_ADD = (
    "Watch JD.com items on a schedule: add items (ids or JD item URLs) to a watch list of "
    "the user's jditem server, creating the list when it does not exist yet (then "
    "interval_minutes and daily_budget_yuan are needed: ask the user how often and how "
    "much a day if they did not say). The server then checks each item every "
    "interval_minutes and records its price and stock history (read it with "
    "price_history) and its changes.\n\n"
    "Spends money later: every check is a charged call (about {price} yuan each, as the "
    "user configured), made by the server on its schedule within the list's daily budget "
    "— the list pauses for the day when that is spent. These checks do not count against "
    "this session's spending limit; a daily budget above {max_list} yuan (the most the "
    "user allows an agent to set, --max-list-budget-yuan) is refused before anything is "
    "sent: relay the message. The result says what a full day of checks would cost.\n\n"
    "Adding items already on the list changes nothing. Errors come back as tool errors "
    "with the message and what to do."
)

WATCH_STATUS = (
    "The state of a watch list: its items (the first {shown}), check interval, daily "
    "budget and what it spent today, checks and changes today, the next and last check, "
    "and whether it is paused and why (its daily budget is spent, the token's budget or "
    "quota, the balance, or a person paused it). Without list: every list of the account, "
    "briefly. Free: reading it never costs money."
)


def _units(value: Decimal) -> int:
    return parse_yuan(plain_decimal(value), name="daily_budget_yuan")


def _added_body(added: AddedItems) -> dict[str, Any]:
    return {
        "added": added.added,
        "already_there": added.already_there,
        "skipped_total": added.skipped_total,
        "skipped": added.skipped[:20],
    }


def _over_cap(session: McpSession, units: int) -> CallToolResult:
    cap = format_yuan(session.settings.max_list_budget_units)
    message = (
        f"Refused before anything was sent: a daily budget of {format_yuan(units)} yuan is "
        f"above the most this session may give a watch list ({cap} yuan a day). Tell the "
        "user; they can allow more by restarting jditem mcp with a higher "
        "--max-list-budget-yuan, or set the budget themselves (jditem watch)."
    )
    return results.tool_result(
        message,
        {"status": "refused", "message": message, "max_list_budget_yuan": cap},
        is_error=True,
    )


def unknown_list_result(error: UnknownListError, then: str = CHECK_OR_CREATE) -> CallToolResult:
    """The tool error of an unknown list: its name, the account's lists, ``then``."""
    message = error.describe(then)
    body = {"type": "UnknownListError", "message": message, "lists": error.names[:SHOWN_NAMES]}
    return results.tool_result(message, {"status": "error", "error": body}, is_error=True)


_TO_CREATE = (
    "To create it, call watch_add again with interval_minutes and daily_budget_yuan (ask "
    "the user how often and how much a day)."
)


def register(server: MCPServer, session: McpSession) -> None:
    """Add ``watch_add`` and ``watch_status`` to ``server``."""
    settings = session.settings
    client = session.client

    async def watch_add(
        list: ListName,
        items: WatchItems,
        interval_minutes: IntervalMinutes = None,
        daily_budget_yuan: DailyBudget = None,
    ) -> CallToolResult:
        units = None if daily_budget_yuan is None else _units(daily_budget_yuan)
        if units is not None and units > settings.max_list_budget_units:
            return _over_cap(session, units)
        changed: dict[str, Any] = {}
        try:
            try:
                current = await find_list(client, list)
            except UnknownListError as unknown:
                if interval_minutes is None or units is None:
                    return unknown_list_result(unknown, _TO_CREATE)
                await client.watch.create(
                    list, interval_seconds=interval_minutes * 60, daily_budget=format_yuan(units)
                )
                status = "created"
            else:
                if interval_minutes is not None and (
                    interval_minutes * 60 != current.schedule.interval_seconds
                ):
                    changed["interval_seconds"] = interval_minutes * 60
                if units is not None and units != _units(current.daily_budget):
                    changed["daily_budget"] = format_yuan(units)
                if changed:
                    await client.watch.update(list, **changed)
                status = "updated" if changed else "added"
            added = await client.watch.add(list, items)
            view = await list_view(client, list, settings.price_units)
        except UnknownListError as unknown:  # deleted meanwhile
            return unknown_list_result(unknown)
        except errors.JditemError as error:
            return results.failure(error, session.budget)
        body = {"status": status, **_added_body(added), "list": view}
        what = {"created": "Created", "updated": "Changed", "added": "Added to"}[status]
        summary = (
            f"{what} watch list {list!r}: {added.added} item(s) added, {added.already_there} "
            f"already there, {added.skipped_total} skipped (not an item id or JD URL). "
            f"{list_summary(view)} The server makes the checks on its schedule, charged to "
            "the account within the list's daily budget (not this session's limit); read "
            "what they find with price_history or watch_status later."
        )
        return results.tool_result(summary, body)

    async def watch_status(
        list: Annotated[
            str, Field(max_length=100, description="The list's name; empty: every list.")
        ] = "",
    ) -> CallToolResult:
        try:
            if list:
                view = await list_view(client, list, settings.price_units)
                return results.tool_result(list_summary(view), {"status": "ok", "list": view})
            lists = await client.watch.list()
        except UnknownListError as unknown:
            return unknown_list_result(unknown)
        except errors.JditemError as error:
            return results.failure(error, session.budget)
        brief = [
            {
                "list": wl.name,
                "items": wl.status.items,
                "interval_minutes": (wl.schedule.interval_seconds or 0) / 60 or None,
                "daily_budget_yuan": plain_decimal(wl.daily_budget),
                "spent_today_yuan": plain_decimal(wl.status.spent_today),
                "paused_reason": wl.status.paused_reason and wl.status.paused_reason.value,
            }
            for wl in lists
        ]
        names = ", ".join(wl.name for wl in lists) or "none"
        return results.tool_result(
            f"{len(brief)} watch list(s): {names}. Call watch_status with a list for its "
            "items and state.",
            {"status": "ok", "lists": brief},
        )

    money = {
        "price": format_yuan(settings.price_units),
        "max_list": format_yuan(settings.max_list_budget_units),
        "shown": SHOWN_ITEMS,
    }
    server.add_tool(
        watch_add,
        name="watch_add",
        title="Watch JD.com items on a schedule",
        description=WATCH_ADD.format(**money),
        annotations=CHANGES_A_LIST,
    )
    server.add_tool(
        watch_status,
        name="watch_status",
        title="A watch list's state",
        description=WATCH_STATUS.format(**money),
        annotations=READS,
    )
