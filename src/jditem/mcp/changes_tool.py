"""The ``changes`` tool: what changed on the account's items, from the change feed
(``client.changes(since=cursor)``, SPEC §6.3; free on a jditem server).

One call reads at most ``max_events`` events after the cursor and gives back the
cursor to pass next time: ``feed.cursor`` is the last event read, so a call that stopped
at ``max_events`` continues exactly there, without loss or repeats.
"""

# No ``from __future__ import annotations``: the SDK reads these annotations at runtime.

import contextlib
from collections.abc import AsyncGenerator
from typing import Annotated, Any, cast

from mcp.server import MCPServer
from mcp.types import CallToolResult
from pydantic import Field

from jditem import errors
from jditem.client.changes import AsyncChangeFeed
from jditem.mcp import results
from jditem.mcp.history_tool import READS
from jditem.mcp.session import McpSession
from jditem.mcp.watch_tools import unknown_list_result
from jditem.mcp.watch_view import UnknownListError, find_list
from jditem.protocol.monitoring import ChangeEvent

#: Events one call returns at most.
MAX_EVENTS = 200
#: Events described in the summary line (all are in the JSON).
SUMMARIZED = 10

Cursor = Annotated[
    str,
    Field(
        max_length=200,
        description="The cursor a previous changes call returned, passed unchanged: only "
        "newer events come back. Empty: from the oldest event the server keeps.",
    ),
]
ListFilter = Annotated[
    str, Field(max_length=100, description="Only this watch list's items; empty: all items.")
]
MaxEvents = Annotated[
    int, Field(ge=1, le=MAX_EVENTS, description="Most events returned by this call.")
]

CHANGES = (
    "What changed on the JD.com items this account follows (its watch lists' checks and "
    "its own fetches), oldest first: each event has the item, when it was seen, the "
    "fields that changed with before and after (prices in yuan), and its kinds "
    "(price_drop, price_rise, new_low over 30/90/180 days, out_of_stock, back_in_stock, "
    "promotion_started, promotion_ended, title_changed), and which watch lists' rules "
    "select it (notify_lists). The first sighting of an item is no change.\n\n"
    "Returns a cursor: keep it and pass it as since_cursor next time to get only what "
    "happened since. When has_more is true, call again at once with that cursor.\n\n"
    "Free: reading changes never costs money. Works with a jditem server only."
)


def event_body(event: ChangeEvent) -> dict[str, Any]:
    """One event for a model: the item, when, what changed, its kinds, who it notifies."""
    return {
        "id": event.id,
        "item_id": event.item_id,
        "title": event.title,
        "observed_at": event.observed_at.isoformat(),
        "kinds": event.kinds,
        "new_low_days": event.new_low_days,
        "changes": [
            {"field": c.field, "before": c.before, "after": c.after} for c in event.changes
        ],
        "notify_lists": [m.name for m in event.rule_matches if m.notify],
    }


def _line(event: dict[str, Any]) -> str:
    what = ", ".join(f"{c['field']} {c['before']} → {c['after']}" for c in event["changes"])
    kinds = f" ({', '.join(event['kinds'])})" if event["kinds"] else ""
    return f"item {event['item_id']}: {what}{kinds}"


def changes_summary(events: list[dict[str, Any]], cursor: str | None, has_more: bool) -> str:
    """How many events, the first few in words, and how to continue."""
    if not events:
        text = "No changes since that cursor."
    else:
        shown = "; ".join(_line(e) for e in events[:SUMMARIZED])
        rest = f"; and {len(events) - SUMMARIZED} more" if len(events) > SUMMARIZED else ""
        text = f"{len(events)} change(s): {shown}{rest}."
    if cursor is None:
        return f"{text} This read was free."
    then = "More are waiting: call changes again now" if has_more else "Next time, call changes"
    return f"{text} {then} with since_cursor={cursor}. This read was free."


async def read_events(feed: AsyncChangeFeed, most: int) -> list[ChangeEvent]:
    """Up to ``most`` events of ``feed``; its ``cursor`` is then the last one read."""
    found: list[ChangeEvent] = []
    stream = cast("AsyncGenerator[ChangeEvent, None]", feed.__aiter__())
    async with contextlib.aclosing(stream) as events:
        async for event in events:
            found.append(event)
            if len(found) == most:
                break
    return found


def register(server: MCPServer, session: McpSession) -> None:
    """Add ``changes`` to ``server``."""
    client = session.client

    async def changes(
        since_cursor: Cursor = "", list: ListFilter = "", max_events: MaxEvents = 50
    ) -> CallToolResult:
        try:
            if list:
                await find_list(client, list)  # an unknown list is named as one
            feed = client.changes(since_cursor or None, list_name=list or None)
            found = await read_events(feed, max_events)
        except UnknownListError as unknown:
            return unknown_list_result(unknown)
        except errors.JditemError as error:
            return results.failure(error, session.budget)
        has_more = len(found) == max_events
        bodies = [event_body(event) for event in found]
        body = {"events": bodies, "cursor": feed.cursor, "has_more": has_more}
        return results.tool_result(changes_summary(bodies, feed.cursor, has_more), body)

    server.add_tool(
        changes,
        name="changes",
        title="What changed on the watched JD.com items",
        description=CHANGES,
        annotations=READS,
    )
