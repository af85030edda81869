"""The watch-list resource: ``jditem://watch/{name}``.

The list as ``watch_status`` gives it (schedule, daily budget and today's spend, pause
state, its first items), read from the server each time: free, like every read of a
watch list. An unknown list is a "not found" error naming the account's lists.
"""

from __future__ import annotations

import json

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError

from jditem import errors
from jditem.mcp.results import error_text
from jditem.mcp.session import McpSession
from jditem.mcp.watch_view import UnknownListError, list_view
from jditem.redaction import redact

WATCH_URI = "jditem://watch/{name}"

WATCH_DESCRIPTION = (
    "A watch list of the user's jditem server: its items (the first 100), check interval, "
    "daily budget and what it spent today, and whether it is paused and why. Free: "
    "reading it never costs money (the list's checks are charged on the server's "
    "schedule, within its daily budget)."
)


def register(server: MCPServer, session: McpSession) -> None:
    """Add the ``jditem://watch/{name}`` resource template to ``server``."""

    @server.resource(
        WATCH_URI,
        name="watch_list",
        title="A jditem watch list",
        description=WATCH_DESCRIPTION,
        mime_type="application/json",
    )
    async def watch_list(name: str) -> str:
        try:
            view = await list_view(session.client, name, session.settings.price_units)
        except UnknownListError as unknown:
            raise ResourceNotFoundError(redact(unknown.describe())) from None
        except errors.JditemError as error:
            raise ResourceError(redact(error_text(error))) from None
        return redact(json.dumps(view, ensure_ascii=False))
