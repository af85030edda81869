"""``jditem mcp``: JD.com product data for AI agents over the Model Context Protocol.

A thin adapter over the client library (:class:`jditem.AsyncClient` and its
``get_many`` engine), built on the official MCP SDK (the ``jditem[mcp]`` extra); it
never imports :mod:`jditem.server` (``tests/test_boundaries.py``). The token stays inside
the client: tools take none, and results and logs are redacted.

Layout:

* :mod:`.budget` — the session's spending limit (pure: reserve before, settle after);
* :mod:`.session` — :class:`McpSession`: the client, the budget, the products fetched so
  far, and the two fetches (one item, many items) with what each cost;
* :mod:`.results` — tool results and error wording for a model;
* :mod:`.tools` — ``get_product``, ``get_products``;
* :mod:`.resources` — ``jditem://item/{item_id}`` (free: only what this session fetched);
* :mod:`.history_tool` — ``price_history(item, since)`` (``client.history``; free);
* :mod:`.watch_tools` — ``watch_add(list, items, interval_minutes, daily_budget_yuan)``
  and ``watch_status(list)`` (``client.watch``); :mod:`.watch_view` — a list as a model
  reads it; :mod:`.watch_resource` — ``jditem://watch/{name}``;
* :mod:`.server` — :func:`build_server`, stdio and streamable HTTP;
* the command is ``jditem/cli/mcp.py``.

Adding features: a module with ``register(server, session)`` listed in
``server.FEATURE_MODULES``. Reads the server does not charge (history, status) need no
budget hold; ``watch_add`` spends later, on the server's schedule, under the list's own
daily budget, which ``--max-list-budget-yuan`` bounds. :mod:`.changes_tool` —
``changes(since_cursor, list)`` over ``client.changes`` (free).
"""

from __future__ import annotations

from jditem.mcp.server import build_server
from jditem.mcp.session import McpSession, McpSettings

__all__ = ["McpSession", "McpSettings", "build_server"]
