"""The CLI tests' shared fixtures: one real jditem server per test module, and a fresh
home with a funded token of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.live_server import LiveServer, live_server

#: Items the sandbox answers "not supported" (code 202) for.
UNSUPPORTED_IDS = ("100000000202", "100000000099")


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    """A live server on the static catalog (no price drift: the wording a test reads,
    a masked price included, does not move with time) that says not supported for
    :data:`UNSUPPORTED_IDS`."""
    with live_server(sandbox_unsupported_ids=list(UNSUPPORTED_IDS), sandbox_drift=False) as live:
        yield live


@pytest.fixture
def env(server: LiveServer, tmp_path: Path) -> dict[str, str]:
    """The environment of a ``jditem`` run against the module's server: a fresh home and a
    token of a new account with 10 yuan (a module that needs another defines its own)."""
    token = server.make_token(f"acct-{tmp_path.name}", balance_yuan="10")
    return {
        "JDITEM_HOME": str(tmp_path / "home"),
        "JDITEM_TOKEN": token,
        "JDITEM_BASE_URL": server.base_url,
    }
