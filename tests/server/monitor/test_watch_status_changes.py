"""A watch list's status counts the changes its checks found (the account's history, SPEC
§6.1/§6.2): none after the first checks (a baseline), some after the moving sandbox has
moved for a month (real server on loopback, both store profiles, injectable clock)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from tests.support.backends import Backend
from tests.support.clock import FrozenClock
from tests.support.live_server import LiveServer, live_server
from tests.support.watch_lists import T0, new_list, status, tick

ITEMS = [str(100_000_000_001 + n) for n in range(20)]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def server(backend: Backend, clock: FrozenClock) -> Iterator[LiveServer]:
    del backend
    with live_server(
        clock=clock, watch_scheduler=False, watch_min_interval_seconds=60, sandbox_drift=True
    ) as live:
        yield live


def test_the_status_counts_the_changes_the_checks_found(
    server: LiveServer, clock: FrozenClock
) -> None:
    token = server.make_token("changes")
    new_list(server, token, "moving", ITEMS, interval=3600)
    clock.set(T0 + timedelta(hours=2))
    assert tick(server) == len(ITEMS)
    first = status(server, token, "moving")
    assert first["lastChangeAt"] is None  # the first observation is a baseline
    assert first["changesToday"] == 0
    clock.set(T0 + timedelta(days=30))
    assert tick(server) == len(ITEMS)
    later = status(server, token, "moving")
    changed = int(
        server.scalar(
            "SELECT COUNT(*) FROM item_history h JOIN accounts a ON a.id = h.account_id "
            "WHERE a.name = 'changes' AND h.seq > 1"
        )
    )
    assert changed > 0  # a month of drift moved some of twenty items
    assert later["changesToday"] == changed
    assert later["lastChangeAt"] is not None
