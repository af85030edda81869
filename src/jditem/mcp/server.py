"""Build the MCP server and run it over stdio or streamable HTTP.

:func:`build_server` makes an SDK :class:`~mcp.server.MCPServer` and lets each module
of :data:`FEATURE_MODULES` register its tools and resources against one
:class:`~jditem.mcp.session.McpSession`. :func:`serve_stdio` and :func:`serve_http`
run it; the caller owns the session's client (and closes it).
"""

from __future__ import annotations

import importlib
import logging
import socket

import uvicorn
from mcp.server import MCPServer

from jditem._version import __version__
from jditem.mcp.budget import format_yuan
from jditem.mcp.session import McpSession
from jditem.redaction import RedactingFilter

#: Modules that each expose ``register(server: MCPServer, session: McpSession) -> None``.
FEATURE_MODULES = (
    "jditem.mcp.tools",
    "jditem.mcp.resources",
    "jditem.mcp.history_tool",
    "jditem.mcp.watch_tools",
    "jditem.mcp.watch_resource",
    "jditem.mcp.changes_tool",
)

#: Where the streamable HTTP endpoint is served.
HTTP_PATH = "/mcp"

INSTRUCTIONS = (
    "jditem gives JD.com (京东) product data: title, brand, shop, price in yuan, stock, "
    "promotions. Fetching a product costs the user money (about {price} yuan per item); "
    "this session may spend at most {limit} yuan, and a call that could pass that is "
    "refused before anything is sent. Reuse what you fetched: products fetched in this "
    "session are returned again free within max_age_minutes, and readable free as "
    "resources jditem://item/{{item_id}}. Prefer get_products for several items. "
    "price_history (free) tells what an item cost over time, as this account received it; "
    "watch_add puts items on a watch list the server checks on a schedule within the "
    "list's own daily budget (at most {max_list} yuan a day from this session), and "
    "watch_status or jditem://watch/{{name}} (free) shows a list's state, and changes "
    "(free) what changed since a cursor it returns."
)


def build_server(session: McpSession) -> MCPServer:
    """The MCP server of ``session``: its tools and resources, nothing started."""
    settings = session.settings
    server: MCPServer = MCPServer(
        "jditem",
        title="jditem: JD.com product data",
        version=__version__,
        instructions=INSTRUCTIONS.format(
            price=format_yuan(settings.price_units),
            limit=format_yuan(settings.max_spend_units),
            max_list=format_yuan(settings.max_list_budget_units),
        ),
        log_level="WARNING",
    )
    redact_log_handlers()
    for name in FEATURE_MODULES:
        importlib.import_module(name).register(server, session)
    return server


class MaskedRecords(RedactingFilter):
    """The client's token-masking filter, keeping a traceback only as masked text.

    A handler that renders ``exc_info`` itself (rich's, which the SDK installs when the
    root logger has none) would print the raw exception message; with ``exc_info``
    cleared it prints the masked ``exc_text`` like any formatter.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        super().filter(record)
        if record.exc_info is not None and record.exc_text:
            record.exc_info = None
        return True


_MASKED = MaskedRecords()


def redact_log_handlers() -> None:
    """Put :class:`MaskedRecords` on every handler of the root logger.

    A logger's filter does not apply to its children's records, but a handler's applies
    to everything it writes: so the SDK's, uvicorn's and httpx's records are masked
    wherever they come from (the SDK may have added a handler of its own).
    """
    for handler in logging.getLogger().handlers:
        if _MASKED not in handler.filters:
            handler.addFilter(_MASKED)


async def serve_stdio(server: MCPServer) -> None:
    """Serve one client over stdin/stdout until stdin closes."""
    await server.run_stdio_async()


async def serve_http(server: MCPServer, sock: socket.socket) -> None:
    """Serve streamable HTTP at ``/mcp`` on the listening socket ``sock`` until interrupted.

    The SDK turns on its DNS-rebinding protection for loopback hosts.
    """
    host = sock.getsockname()[0]
    app = server.streamable_http_app(streamable_http_path=HTTP_PATH, host=host)
    config = uvicorn.Config(app, log_config=None, lifespan="on", access_log=False)
    await uvicorn.Server(config).serve(sockets=[sock])
