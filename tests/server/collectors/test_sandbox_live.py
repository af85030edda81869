"""The moving sandbox through a real server on loopback, driven by an injected clock.

The clock is frozen and set by the test, so weeks of sandbox time pass in a few calls;
the result cache keeps answering with what was collected until ``result_ttl`` has passed
on that same clock (cache time is server time, never sped up).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.support.clock import FrozenClock
from tests.support.live_server import LiveServer, live_server

from jditem.server.collectors.catalog import build_payload, catalog_skus
from jditem.server.collectors.drift import change_times, drifted_payload, state_at

# once per store profile (tests/conftest.py: backend)
pytestmark = pytest.mark.usefixtures("backend")

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TTL = 60  # seconds of server time
SPEED = 3600  # an hour of sandbox time per second of server time


def moving_item() -> str:
    """A catalog SKU that changes within the TTL at SPEED and differs once the TTL is over."""
    cached_until = START + timedelta(seconds=(TTL - 1) * SPEED)
    for sku in catalog_skus():
        if change_times(sku, START, cached_until) and state_at(
            sku, START + timedelta(seconds=(TTL + 1) * SPEED)
        ) != state_at(sku, START):
            return sku
    raise AssertionError("no catalog SKU moves within the test's window")


def data(live: LiveServer, item_id: str, token: str) -> Any:
    body = live.get(item_id, token).json()
    assert body["code"] == 0, body
    return body["data"]


def test_the_served_product_moves_with_the_clock_at_the_set_speed() -> None:
    item = moving_item()
    clock = FrozenClock(START)
    with live_server(clock=clock, sandbox_drift_speed=SPEED, result_ttl_seconds=TTL) as live:
        token = live.make_token()
        first = data(live, item, token)
        assert first == drifted_payload(item, START)

        # the sandbox has moved (TTL - 1 hours), but the cached result still answers
        clock.set(START + timedelta(seconds=TTL - 1))
        assert data(live, item, token) == first
        assert drifted_payload(item, START + timedelta(hours=TTL - 1)) != first

        # past the TTL the item is collected again, at sandbox time START + (TTL + 1) hours
        clock.set(START + timedelta(seconds=TTL + 1))
        moved = data(live, item, token)
        assert moved == drifted_payload(item, START + timedelta(hours=TTL + 1))
        assert moved != first
        assert live.scalar("SELECT COUNT(*) FROM tasks WHERE item_id = :i", i=item) == 2


def test_at_speed_one_the_sandbox_shows_the_clocks_own_time() -> None:
    item = moving_item()
    clock = FrozenClock(START)
    with live_server(clock=clock, result_ttl_seconds=TTL, sandbox_seed=3) as live:
        token = live.make_token()
        for later in (timedelta(0), timedelta(days=2), timedelta(days=9, hours=5)):
            clock.set(START + later)
            assert data(live, item, token) == drifted_payload(item, START + later, seed=3)


def test_drift_off_serves_the_static_catalog_whatever_the_clock() -> None:
    item = moving_item()
    clock = FrozenClock(START)
    with live_server(clock=clock, result_ttl_seconds=TTL, sandbox_drift=False) as live:
        token = live.make_token()
        for later in (timedelta(0), timedelta(days=30), timedelta(days=108)):
            clock.set(START + later)
            assert data(live, item, token) == build_payload(item)
