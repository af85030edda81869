"""``jditem mcp``: JD.com product data for AI agents, over the Model Context Protocol.

Stdio by default (a desktop agent starts the command and speaks on its stdin/stdout);
``--http`` serves streamable HTTP on a local port instead. The token comes from the
environment (``JDITEM_TOKEN`` / ``JUSTONEAPI_TOKEN``) or the config file's profile
(``token_env`` / ``token_command``), as for ``jditem get`` — never from a flag or a tool
argument. Logs go to stderr (stdout carries the protocol), with the token masked.

The MCP SDK is the ``jditem[mcp]`` extra, imported only when the command runs.
"""

from __future__ import annotations

import asyncio
import importlib.util
import ipaddress
import logging
import socket
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from jditem import errors
from jditem.cli.client_options import AuthChoice, AuthOpt, BaseUrlOpt, InsecureOpt
from jditem.cli.exits import OPTION_ADVICE, cli_message, exit_code_for, usage_error
from jditem.cli.logs import VerboseOpt

if TYPE_CHECKING:
    from jditem.mcp.session import McpSession

MISSING_SDK = (
    "jditem mcp needs the Model Context Protocol SDK, which is not installed: "
    "pip install 'jditem[mcp]'"
)
DEFAULT_PORT = 8765
#: ``jditem mcp`` takes no token flag (a flag would sit in an agent's config in clear).
MCP_ADVICE = {
    **OPTION_ADVICE,
    "token": "set JDITEM_TOKEN or JUSTONEAPI_TOKEN in the environment, or token_env / "
    "token_command in the config file",
}


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _log_to_stderr(verbose: bool) -> logging.Handler:
    """One stderr handler on the root logger, masking tokens in every record it writes."""
    from jditem.mcp.server import redact_log_handlers

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    redact_log_handlers()
    return handler


def _yuan(value: str, option: str) -> int:
    from jditem.mcp.budget import parse_yuan

    try:
        return parse_yuan(value, name=option)
    except ValueError as exc:
        raise usage_error(str(exc)) from None


async def _serve(session: McpSession, sock: socket.socket | None) -> None:
    from jditem.mcp.server import build_server, serve_http, serve_stdio

    server = build_server(session)
    try:
        if sock is None:
            await serve_stdio(server)
        else:
            await serve_http(server, sock)
    finally:
        await session.client.close()


def mcp_command(
    http: Annotated[
        bool,
        typer.Option("--http", help="Serve streamable HTTP on --host/--port instead of stdio."),
    ] = False,
    host: Annotated[
        str, typer.Option("--host", help="With --http: the interface to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, help="With --http: the TCP port (0 = any free port).")
    ] = DEFAULT_PORT,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="With --http: allow a non-loopback --host. The MCP endpoint has no login "
            "of its own: anyone who reaches it spends your money.",
        ),
    ] = False,
    max_spend_yuan: Annotated[
        str,
        typer.Option(
            "--max-spend-yuan",
            help="What this session may spend in all, in yuan; a tool call that could pass "
            "it is refused before any call is made.",
        ),
    ] = "1.00",
    price_yuan: Annotated[
        str,
        typer.Option(
            "--price-yuan",
            help="What one charged call costs on your server or vendor account, in yuan "
            "(the server does not say it); each answer with data counts once.",
        ),
    ] = "0.01",
    max_list_budget_yuan: Annotated[
        str,
        typer.Option(
            "--max-list-budget-yuan",
            help="watch_add: the most daily budget, in yuan, an agent may give a watch list "
            "(its checks are charged by the server within it, not within --max-spend-yuan).",
        ),
    ] = "1.00",
    tool_deadline: Annotated[
        float,
        typer.Option(
            "--tool-deadline",
            min=1.0,
            help="Seconds a tool waits for its items; then a pending item is returned with "
            "a continuation to ask again. Keep it below your agent's request timeout.",
        ),
    ] = 45.0,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", min=1, max=32, help="get_products: calls on the wire."),
    ] = 4,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate",
            min=0.01,
            help="get_products: call starts per second at most (default: unlimited until the "
            "server throttles, then adaptive).",
            show_default=False,
        ),
    ] = None,
    base_url: BaseUrlOpt = None,
    insecure: InsecureOpt = False,
    auth: AuthOpt = AuthChoice.query,
    verbose: VerboseOpt = False,
) -> None:
    """Serve JD.com product data to AI agents over MCP (stdio, or --http).

    Tools: get_product, get_products (they spend money, within --max-spend-yuan),
    price_history, watch_status and changes (free), watch_add (a list's checks spend within its
    daily budget, at most --max-list-budget-yuan); resources: jditem://item/{id} (free:
    products this session fetched), jditem://watch/{name} (free). The token comes
    from JDITEM_TOKEN / JUSTONEAPI_TOKEN or the config file, never from a tool.
    """
    if importlib.util.find_spec("mcp") is None:
        typer.echo(f"Error: {MISSING_SDK}", err=True)
        raise typer.Exit(2)
    from jditem.cli.config import resolve_base_url, resolve_token
    from jditem.cli.serve import listen_socket
    from jditem.client import AsyncClient
    from jditem.mcp.budget import format_yuan
    from jditem.mcp.session import McpSession, McpSettings

    settings = McpSettings(
        price_units=_yuan(price_yuan, "--price-yuan"),
        max_spend_units=_yuan(max_spend_yuan, "--max-spend-yuan"),
        tool_deadline=tool_deadline,
        concurrency=concurrency,
        rate=rate,
        max_list_budget_units=_yuan(max_list_budget_yuan, "--max-list-budget-yuan"),
    )
    if http and not _is_loopback(host) and not allow_remote:
        raise usage_error(
            f"--host {host} is not a loopback address: the MCP endpoint has no login of its "
            "own, so anyone who reaches it could spend your money. Keep 127.0.0.1, or add "
            "--allow-remote if a proxy in front of it checks who calls"
        )
    try:
        client = AsyncClient(
            resolve_token(None),
            base_url=resolve_base_url(base_url),
            allow_insecure_http=insecure,
            auth=auth.value,
        )
    except errors.JditemError as exc:
        typer.echo(f"Error: {cli_message(exc, option_advice=MCP_ADVICE)}", err=True)
        raise typer.Exit(exit_code_for(exc)) from None
    sock = None
    if http:
        try:
            sock = listen_socket(host, port)
        except OSError as exc:
            typer.echo(
                f"Error: cannot listen on {host}:{port}: {exc.strerror or exc}. Choose "
                "another --port.",
                err=True,
            )
            raise typer.Exit(1) from None
    handler = _log_to_stderr(verbose)
    where = "stdio"
    if sock is not None:
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        where = f"streamable HTTP at http://{shown}:{bound_port}/mcp"
    typer.echo(
        f"jditem mcp: serving over {where} for {client.config.base_url}; spending limit "
        f"{format_yuan(settings.max_spend_units)} yuan at {format_yuan(settings.price_units)} "
        f"yuan per charged call; tool deadline {tool_deadline:g} s",
        err=True,
    )
    try:
        asyncio.run(_serve(McpSession(client, settings), sock))
    except KeyboardInterrupt:
        pass
    finally:
        logging.getLogger().removeHandler(handler)
        if sock is not None:
            sock.close()


def register(app: typer.Typer) -> None:
    """Register ``jditem mcp``."""
    app.command("mcp")(mcp_command)
