"""The token is masked in every log line ``jditem mcp`` can write, the MCP SDK's and
uvicorn's included — also in a traceback, whichever handler renders it."""

from __future__ import annotations

import secrets
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import logging, sys
    from jditem import AsyncClient
    from jditem.mcp import McpSession, McpSettings, build_server

    token = sys.argv[1]
    if sys.argv[2] == "cli":  # the command's own stderr handler, installed first
        from jditem.cli.mcp import _log_to_stderr
        _log_to_stderr(verbose=True)
    client = AsyncClient(token, base_url="http://127.0.0.1:9")
    build_server(McpSession(client, McpSettings()))  # the SDK adds rich's handler if none
    for name in ("mcp.server.mcpserver.server", "mcp.server.lowlevel", "uvicorn.error", "x"):
        logging.getLogger(name).warning("saw %s in %s", token, name)
    try:
        raise RuntimeError(f"boom {token}")
    except RuntimeError:
        logging.getLogger("mcp.server.mcpserver.server").exception("crash")
    """
)


@pytest.mark.parametrize("setup", ["cli", "library"])
def test_sdk_and_uvicorn_log_lines_are_masked(setup: str) -> None:
    token = "jdi_" + secrets.token_urlsafe(24)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, token, setup],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "400", "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    assert token not in done.stderr + done.stdout
    assert done.stdout == ""
    assert done.stderr.count("saw ***") == 4
    assert "crash" in done.stderr
    assert "boom ***" in done.stderr
