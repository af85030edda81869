"""The CLI tests' shared server: one real jditem server per test module."""

from __future__ import annotations

from collections.abc import Iterator

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
