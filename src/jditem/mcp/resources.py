"""The product resource: ``jditem://item/{item_id}``.

Agents often read resources eagerly (to fill their context), so reading one never
spends money: a resource serves only a product this session already fetched with
``get_product`` / ``get_products`` (the newest copy, normalized, without ``raw``). An
item not fetched yet is a "not found" error that says to call ``get_product`` first.
"""

from __future__ import annotations

import json

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from jditem.mcp.session import McpSession
from jditem.redaction import redact

ITEM_URI = "jditem://item/{item_id}"

ITEM_DESCRIPTION = (
    "A JD.com product this session already fetched with get_product or get_products "
    "(normalized, without JD's raw payload), with the time it was fetched. Free: reading "
    "never calls the server, so an item not fetched yet is not found — call get_product "
    "for it first (that costs money)."
)


def register(server: MCPServer, session: McpSession) -> None:
    """Add the ``jditem://item/{item_id}`` resource template to ``server``."""

    @server.resource(
        ITEM_URI,
        name="jd_product",
        title="A JD.com product fetched in this session",
        description=ITEM_DESCRIPTION,
        mime_type="application/json",
    )
    def jd_product(item_id: str) -> str:
        seen = session.remembered(item_id)
        if seen is None:
            raise ResourceNotFoundError(
                f"item {item_id[:40]} has not been fetched in this session; resources serve "
                "only products already fetched (reading them is free): call the get_product "
                "tool for it first (that costs money)"
            )
        body = {"item_id": item_id, **seen.product, "fetched_at": seen.fetched_at.isoformat()}
        return redact(json.dumps(body, ensure_ascii=False))
