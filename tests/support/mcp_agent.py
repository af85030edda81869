"""An AI agent's side of ``jditem mcp``: the MCP SDK's own client, over stdio or HTTP.

``async with agent(transport, base_url=..., token=..., args=[...]) as a:`` starts
``jditem mcp`` as a real subprocess (``-v``: every log line it can write goes to a
file), connects the SDK's :class:`mcp.Client` to it — over stdio with the initialize
handshake desktop agents use (``mode="legacy"``), or over streamable HTTP with the
SDK's default negotiation — and yields an :class:`Agent`. Every tool result and
resource read through the agent is kept; when the block ends, the test fails if the
token appears in any of them or anywhere in the server's log.

What the agent tests share besides: :data:`ITEM`, :data:`OTHER`, :data:`THIRD` (items
the sandbox answers), :func:`account` (a fresh account and its token),
:func:`charged_units` (what an account was charged) and :func:`text` (a tool result's
first text block).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult

from mcp import Client, StdioServerParameters
from tests.support.cli_runs import JDITEM
from tests.support.live_server import LiveServer
from tests.support.waiting import wait_until

Transport = Literal["stdio", "http"]
TRANSPORTS: tuple[Transport, ...] = ("stdio", "http")
_LISTENING = re.compile(r"streamable HTTP at (http://\S+/mcp)")
STOP_TIMEOUT = 15.0

ITEM = "100012043978"
OTHER = "100009077475"
THIRD = "100016034394"


@dataclass
class Agent:
    """A connected client, what it received, and the server's log."""

    client: Client
    log_path: Path
    received: list[str] = field(default_factory=list)

    def log(self) -> str:
        """Everything the ``jditem mcp`` process wrote to stderr so far."""
        return self.log_path.read_text(errors="replace")

    async def call(self, tool: str, **arguments: Any) -> CallToolResult:
        """Call ``tool``; the result is kept for the leak check."""
        result = await self.client.call_tool(tool, arguments)
        self.received.extend(block.text for block in result.content if hasattr(block, "text"))
        self.received.append(json.dumps(result.structured_content))
        return result

    async def read(self, uri: str) -> str:
        """Read a resource's text; kept for the leak check."""
        result = await self.client.read_resource(uri)
        text = "".join(getattr(c, "text", "") for c in result.contents)
        self.received.append(text)
        return text


def server_env(token: str | None, home: Path) -> dict[str, str]:
    """A clean environment: the token (if any), and no config file of the user's."""
    env = {"JDITEM_CONFIG": str(home / "no-config.toml"), "JDITEM_HOME": str(home)}
    if token is not None:
        env["JDITEM_TOKEN"] = token
    return env


@asynccontextmanager
async def agent(
    transport: Transport, *, base_url: str, token: str, args: Sequence[str] = ()
) -> AsyncIterator[Agent]:
    """Start ``jditem mcp`` and connect to it (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="jditem-mcp-") as tmp:
        home = Path(tmp)
        log_path = home / "stderr.log"
        command = ["mcp", "--base-url", base_url, "-v", *args]
        env = server_env(token, home)
        with log_path.open("w") as log:
            if transport == "stdio":
                params = StdioServerParameters(command=JDITEM, args=command, env=env, cwd=home)
                client = Client(stdio_client(params, errlog=log), cache=None, mode="legacy")
                async with client:
                    session = Agent(client, log_path)
                    yield session
            else:
                async with (
                    _http_server(command, env, log, home) as url,
                    Client(url, cache=None) as client,
                ):
                    session = Agent(client, log_path)
                    yield session
        assert_no_leak(token, [*session.received, session.log()])


def assert_no_leak(token: str, texts: Sequence[str]) -> None:
    """Fail when ``token`` appears in any of ``texts`` (results, resources, the log)."""
    for text in texts:
        assert token not in text, "the token leaked into a tool result, a resource or the log"


@asynccontextmanager
async def _http_server(
    command: list[str], env: dict[str, str], log: Any, home: Path
) -> AsyncIterator[str]:
    popen = subprocess.Popen(
        [JDITEM, *command, "--http", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        env={**_base_env(), **env},
        cwd=home,
    )
    log_path = Path(log.name)
    try:

        def listening() -> str | None:
            if popen.poll() is not None:
                raise AssertionError(f"jditem mcp --http exited early:\n{log_path.read_text()}")
            match = _LISTENING.search(log_path.read_text(errors="replace"))
            return match.group(1) if match else None

        yield wait_until(listening, what="jditem mcp --http to listen")
    finally:
        popen.terminate()
        try:
            popen.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(STOP_TIMEOUT)


def _base_env() -> dict[str, str]:
    """What a child needs from this environment (not the tester's jditem settings)."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    return {name: os.environ[name] for name in keep if name in os.environ}


def run_command(args: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``jditem ARGS`` to its end (for start-up errors); stdin is closed."""
    return subprocess.run(
        [JDITEM, *args],
        env={**_base_env(), **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def account(server: LiveServer, **token_options: Any) -> tuple[str, str]:
    """A fresh account with 100 yuan and a token of it: ``(account, token)``."""
    name = f"a{secrets.token_hex(4)}"
    return name, server.make_token(name, **token_options)


def charged_units(server: LiveServer, name: str) -> int:
    """What the server has charged ``name`` so far."""
    balance: int = server.scalar("SELECT balance FROM accounts WHERE name = :n", n=name)
    return 1_000_000 - balance


def text(result: Any) -> str:
    """The first text block of a tool result."""
    first: str = result.content[0].text
    return first
