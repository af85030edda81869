"""Shared fixtures. ``live``: a real server on 127.0.0.1 (see tests/support/live_server.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.live_server import LiveServer, live_server


@pytest.fixture
def live() -> Iterator[LiveServer]:
    """A running server with test defaults (temp SQLite, fast sandbox, no rate limit)."""
    with live_server() as server:
        yield server
