"""The ``price_history`` tool: an item's price and stock changes, as the account received
them (``client.history``, SPEC §6.1; free on a jditem server).

``since`` takes what a model can give without knowing today's date — a window back from
now (``30d``, ``12h``, ``2w``) — or an ISO-8601 date or time. The answer is the change
points (oldest first) with the lowest, highest and latest known price worked out, so a
model answers "what did it cost last month" without arithmetic over JSON.
"""

# No ``from __future__ import annotations``: the SDK reads these annotations at runtime.

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from jditem import errors
from jditem.mcp import results
from jditem.mcp.session import McpSession, item_id_of
from jditem.protocol.monitoring import ChangePoint, ItemHistory, plain_decimal

_RELATIVE = re.compile(r"([0-9]{1,5})\s*([hdw])", re.ASCII)
_UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}

Item = Annotated[
    str,
    Field(
        max_length=300,
        description="A JD item id (1-20 digits, e.g. 100012043978) or a JD item page URL "
        "(e.g. https://item.jd.com/100012043978.html).",
    ),
]
Since = Annotated[
    str,
    Field(
        max_length=40,
        description="How far back: a window ending now (e.g. 30d, 12h, 2w — use this when "
        "you do not know today's date), or an ISO-8601 date or time (2026-11-01, "
        "2026-11-01T08:00:00+08:00). Empty: all of the history.",
    ),
]
Limit = Annotated[
    int,
    Field(ge=1, le=1000, description="Most change points returned (the newest are kept)."),
]

#: Reads only, free, the same answer until something changes.
READS = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)

PRICE_HISTORY = (
    "Price and stock history of one JD.com item (id or JD item URL) as this account "
    "received it: every time jditem fetched the item for this account (get_product, "
    "get_products, batch jobs, watch-list checks) it recorded the state, and a new "
    "change point starts whenever price, list or promo price, stock, promotions, shop "
    "or title changed. Returns the change points oldest first (each with the time it "
    "took effect and the last time it was seen the same), and the lowest, highest and "
    "latest known price in the window. A masked price (JD hides it) is unknown, never a "
    "change.\n\n"
    "Free: reading history never costs money and does not count against the session's "
    "spending limit. An item this account never fetched has no history: fetch it with "
    "get_product (costs money) or put it on a watch list with watch_add to record it "
    "from now on. Works with a jditem server only (the vendor keeps no history)."
)


def parse_since(text: str, now: datetime) -> str | None:
    """The ``since`` to send: ``None`` for all, an aware ISO time for ``30d``, else the
    ISO date or time as given; :class:`~jditem.errors.ConfigurationError` otherwise."""
    text = text.strip()
    if not text:
        return None
    relative = _RELATIVE.fullmatch(text.lower())
    if relative is not None:
        return (now - int(relative.group(1)) * _UNIT[relative.group(2)]).isoformat()
    try:
        if len(text) == 10:
            date.fromisoformat(text)
        else:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise errors.ConfigurationError(
            f"since {text[:40]!r} is neither a window such as 30d, 12h or 2w nor an "
            "ISO-8601 date or time such as 2026-11-01 or 2026-11-01T08:00:00+08:00"
        ) from None
    return text


def _yuan(value: Decimal | None) -> str | None:
    return plain_decimal(value) if value is not None else None


def point_body(point: ChangePoint) -> dict[str, Any]:
    """One change point for a model: times, prices in yuan strings, stock, promotions."""
    return {
        "from": point.valid_from.isoformat(),
        "last_seen": point.last_confirmed_at.isoformat(),
        "price": _yuan(point.known_price),
        "price_masked": point.price_masked,
        "list_price": _yuan(point.price_original),
        "promo_price": _yuan(point.price_promo),
        "in_stock": point.in_stock,
        "promotions": point.promotion_texts,
        "title": point.title,
    }


def history_body(history: ItemHistory, since: str | None) -> dict[str, Any]:
    """The history as JSON with its lowest, highest and latest known price."""
    points = history.points
    priced = [p for p in points if p.known_price is not None]
    body: dict[str, Any] = {
        "item_id": history.item_id,
        "since": since,
        "change_points": len(points),
        "has_more": history.has_more,
        "points": [point_body(p) for p in points],
    }
    if priced:
        low = min(priced, key=lambda p: p.known_price or Decimal(0))
        high = max(priced, key=lambda p: p.known_price or Decimal(0))
        body["lowest"] = {"price": _yuan(low.known_price), "from": low.valid_from.isoformat()}
        body["highest"] = {"price": _yuan(high.known_price), "from": high.valid_from.isoformat()}
        body["latest_known_price"] = _yuan(priced[-1].known_price)
    if points:
        body["latest"] = point_body(points[-1])
    return body


def history_summary(body: dict[str, Any]) -> str:
    """One paragraph: how many points, the latest, lowest and highest price."""
    item, count = body["item_id"], body["change_points"]
    window = f" since {body['since']}" if body["since"] else ""
    if not count:
        return (
            f"No history for item {item}{window}: this account has not received it (in "
            "that window). Fetch it with get_product (costs money) or watch it with "
            "watch_add to record its prices from now on. This read was free."
        )
    latest = body["latest"]
    stock = {True: "in stock", False: "out of stock"}.get(latest["in_stock"], "stock unknown")
    now = f"{latest['price']} yuan" if latest["price"] is not None else "price masked by JD"
    if latest["list_price"] is not None:
        now += f" (list price {latest['list_price']} yuan)"
    text = f"Item {item}{window}: {count} change point(s); latest {now}, {stock}"
    if "lowest" in body:
        text += (
            f"; lowest {body['lowest']['price']} yuan (from {body['lowest']['from']}), "
            f"highest {body['highest']['price']} yuan (from {body['highest']['from']})"
        )
    more = " Older points were left out (raise limit)." if body["has_more"] else ""
    return f"{text}.{more} This read was free."


def register(server: MCPServer, session: McpSession) -> None:
    """Add ``price_history`` to ``server``."""

    async def price_history(item: Item, since: Since = "30d", limit: Limit = 100) -> CallToolResult:
        try:
            item_id = item_id_of(item)
            start = parse_since(since, datetime.now(UTC))
            history = await session.client.history(item_id, since=start, limit=limit)
        except errors.JditemError as error:
            return results.failure(error, session.budget)
        body = history_body(history, start)
        return results.tool_result(history_summary(body), body)

    server.add_tool(
        price_history,
        name="price_history",
        title="Price history of a JD.com item",
        description=PRICE_HISTORY,
        annotations=READS,
    )
