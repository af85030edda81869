"""A "changing item" world for monitoring tests: a real server on loopback whose item's
answer the test scripts (a frozen clock and :class:`ScriptedCollector`), so that each
answer a token receives is a point of its account's history and each change an event.

* :data:`ITEM`, :data:`T0` (where the clock starts), :data:`TTL` (the server's result
  cache lifetime: past it, the item is collected again);
* :class:`ScriptedCollector`: answers each item with the payload the test set last;
* :func:`call`: the v2 call of a token (code 0 asserted);
* :class:`Changer`: makes the item's next answer differ (the cached one expired first)
  and has a token receive it;
* :func:`changing_item`: such a server (``ITEM`` answering 699.00) and its Changer;
* :func:`feed`: a page of an account's change feed.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from jditem.server.collectors.base import CollectResult
from jditem.server.collectors.drift import drifted_payload
from tests.support.clock import FrozenClock
from tests.support.live_server import LiveServer, live_server

ITEM = "100012043978"
T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
TTL = 60
#: The change feed of the token's account.
CHANGES = "/api/watch/changes"


class ScriptedCollector:
    """Answers each item with the payload the test set for it last."""

    def __init__(self) -> None:
        self.payloads: dict[str, dict[str, Any]] = {}

    def set(self, item_id: str, price: str, *, stock: int = 33) -> None:
        payload = drifted_payload(item_id, T0)
        payload["priceFloor"] = {"price": price, "ext": {"jdPrice": price}}
        payload["stock"]["StockState"] = stock
        self.payloads[item_id] = payload

    async def collect(self, item_id: str) -> CollectResult:
        return CollectResult.ok(copy.deepcopy(self.payloads[item_id]))


def call(live: LiveServer, token: str, item: str = ITEM, **headers: str) -> dict[str, Any]:
    """``token``'s v2 call for ``item`` (its answer must be code 0)."""
    response = live.http.get(
        "/api/jd/get-item-detail/v2",
        params={"itemId": item},
        headers={"Authorization": f"Bearer {token}", **headers},
    )
    body: dict[str, Any] = response.json()
    assert body["code"] == 0, body
    return body


class Changer:
    """Makes the item's next answer differ (the cache expired first) and receives it."""

    def __init__(self, live: LiveServer, clock: FrozenClock, collector: ScriptedCollector):
        self.live, self.clock, self.collector = live, clock, collector

    def observe(self, token: str, price: str, *, stock: int = 33, after: float = TTL + 1) -> None:
        """``after`` seconds later, the item answers ``price`` and ``token`` receives it."""
        self.clock.set(self.clock() + timedelta(seconds=after))
        self.collector.set(ITEM, price, stock=stock)
        call(self.live, token)

    async def observe_async(self, token: str, price: str) -> None:
        """:meth:`observe` from a test's event loop (the call blocks: in a thread)."""
        await asyncio.to_thread(self.observe, token, price)


@contextmanager
def changing_item(**settings: Any) -> Iterator[Changer]:
    """A live server (clock at :data:`T0`, results cached :data:`TTL` seconds, :data:`ITEM`
    answering 699.00; ``settings`` override the rest) and the Changer of its item."""
    clock = FrozenClock(T0)
    collector = ScriptedCollector()
    collector.set(ITEM, "699.00")
    with live_server(clock=clock, collector=collector, result_ttl_seconds=TTL, **settings) as live:
        yield Changer(live, clock, collector)


def feed(live: LiveServer, token: str, **params: Any) -> dict[str, Any]:
    """The ``data`` of a page of ``token``'s account's change feed (code 0 asserted)."""
    response = live.http.get(CHANGES, params=params, headers={"Authorization": f"Bearer {token}"})
    body: dict[str, Any] = response.json()
    assert body["code"] == 0, body
    data: dict[str, Any] = body["data"]
    return data
