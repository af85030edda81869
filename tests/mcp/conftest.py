"""Fixtures of the ``jditem mcp`` tests."""

from __future__ import annotations

import pytest

from tests.support.mcp_agent import TRANSPORTS, Transport


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> Transport:
    """Each MCP transport an agent may use: ``stdio`` and ``http``."""
    value: Transport = request.param
    return value
