"""Benchmark helper for ``alerts.py``: a burst of events stored in the same second.

One account, :data:`BURST_ITEMS` (40 items whose sandbox state changes at least every
40 h) dealt into four watch lists notifying every kind, three endpoints on one receiver.
Each burst waits :data:`PAUSE` seconds (the fast sandbox, about 28 sandbox hours a
second, moves nearly every item meanwhile), then calls the 40 items at once (40 threads
released together): about 35 events are stored within a second or so, a third to a half
of them with a kind (a change of the list or promo price alone has none, SPEC §6.3), and
each of those is owed to the three endpoints; an endpoint's deliveries go one at a time,
so each endpoint gets a queue. The latency of every delivery, observed -> 2xx, over all
bursts; ``stored_within`` is the widest spread of one burst's ``observedAt``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
from _alerts_parts import ITEMS, Hit, Receiver, Server, spread, stamp

from jditem.server.collectors.drift import mean_interval

#: ITEMS and 30 more sandbox items whose state changes at least every 40 h.
BURST_ITEMS = (
    ITEMS
    + [
        item
        for item in (str(100012040000 + n) for n in range(3900, 4100))
        if item not in ITEMS and 0 < mean_interval(item) <= 40 * 3600
    ][:30]
)
#: Seconds between bursts (after the previous burst was delivered): the items move on.
PAUSE = 3.0


def fire(server: Server, items: list[str]) -> list[int]:
    """Call every item at once (one thread each, released together); the HTTP statuses."""
    gate = threading.Barrier(len(items))
    statuses = [0] * len(items)
    with httpx.Client(base_url=server.base, timeout=60) as http:

        def call(k: int) -> None:
            gate.wait(30)
            answer = http.get(
                "/api/jd/get-item-detail/v2",
                params={"itemId": items[k]},
                headers={"Authorization": f"Bearer {server.token}"},
            )
            statuses[k] = answer.status_code

        threads = [threading.Thread(target=call, args=(k,)) for k in range(len(items))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
    return statuses


def first_2xx(receiver: Receiver) -> dict[tuple[str, str], Hit]:
    """The dedup view per endpoint: the first 2xx per (path, webhook-id)."""
    seen: dict[tuple[str, str], Hit] = {}
    for hit in list(receiver.hits):
        if 200 <= hit.status < 300:
            seen.setdefault((hit.path, hit.webhook_id), hit)
    return seen


def measure_burst(base: str, bursts: int, endpoints: int = 3) -> dict[str, Any]:
    """``bursts`` bursts on the deployment at ``base`` (a new account ``burst``)."""
    receiver = Receiver()
    server = Server(base)
    latencies: list[float] = []
    stored_within: list[float] = []
    events = notified = owed = missing = failed_calls = 0
    try:
        urls = [f"{receiver.url}/{e}" for e in range(endpoints)]
        server.prepare(*urls, account="burst", items=BURST_ITEMS, lists=4)
        paths = [f"/hook/{e}" for e in range(endpoints)]
        server.drive(0.0, pause=0.0, items=BURST_ITEMS, passes=1)  # the baselines
        server.expected()
        for _ in range(bursts):
            time.sleep(PAUSE)
            statuses = fire(server, BURST_ITEMS)
            failed_calls += sum(1 for s in statuses if s != 200)
            server.events = []
            new = server.expected()
            want = {(p, e["id"]) for p in paths for e in new}
            deadline = time.monotonic() + 120
            got = first_2xx(receiver)
            while want - got.keys() and time.monotonic() < deadline:
                time.sleep(0.1)
                got = first_2xx(receiver)
            stored = [stamp(e["observedAt"]) for e in server.events]  # notifying or not
            stored_within.append(max(stored) - min(stored) if stored else 0.0)
            events += len(stored)
            latencies += [
                got[k].at - stamp(got[k].body["data"]["observedAt"]) for k in want & got.keys()
            ]
            notified += len(new)
            owed += len(want)
            missing += len(want - got.keys())
    finally:
        receiver.close()
    if not latencies:
        raise SystemExit(f"{base}: no burst delivery arrived ({failed_calls} calls failed)")
    return {
        "bursts": bursts,
        "events": events,
        "notified": notified,
        "deliveries": owed,
        "missing": missing,
        "failed_calls": failed_calls,
        "stored_within": max(stored_within),
        **spread(latencies),
    }
