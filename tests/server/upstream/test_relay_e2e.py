"""The relay collector end to end: a relay server in front of a second real jditem server.

Both servers run on 127.0.0.1 with their real databases; nothing of ours is mocked.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support.live_server import V2_PATH, LiveServer
from tests.support.relay import upstream_and_relay

ITEM = "100012043978"


def upstream_charged(upstream: LiveServer) -> int:
    """Charged calls the upstream answered (its own call records)."""
    return int(upstream.scalar("SELECT COUNT(*) FROM call_records WHERE charged > 0"))


def test_100_concurrent_callers_cause_one_upstream_charge() -> None:
    """100 callers, 3 tokens of two accounts, one new item → 1 upstream charged call."""
    with upstream_and_relay(upstream_settings={"sandbox_latency_ms": (300, 400)}) as (
        upstream,
        relay,
        _,
    ):
        tokens = [
            relay.make_token("team-a", name="a1"),
            relay.make_token("team-a", name="a2"),
            relay.make_token("team-b", name="b1"),
        ]

        def call(index: int) -> dict[str, object]:
            token = tokens[index % 3]
            with httpx.Client(base_url=relay.base_url, timeout=60) as http:
                for _ in range(20):
                    body = http.get(
                        V2_PATH,
                        params={"itemId": ITEM},
                        headers={"Authorization": f"Bearer {token}"},
                    ).json()
                    if body["code"] != 102:
                        return dict(body)
            raise AssertionError("still pending after 20 calls")

        with ThreadPoolExecutor(max_workers=100) as pool:
            bodies = list(pool.map(call, range(100)))
        assert all(b["code"] == 0 for b in bodies), {b["code"] for b in bodies}
        assert all(b["data"]["product"]["skuId"] == ITEM for b in bodies)  # type: ignore[index]
        assert upstream_charged(upstream) == 1
        assert relay.scalar("SELECT COUNT(*) FROM upstream_calls WHERE charged") == 1
        # each caller charged once: 100 charged call records, 100 ledger rows
        assert relay.scalar("SELECT COUNT(*) FROM call_records WHERE charged > 0") == 100
        assert relay.scalar("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'") == 100

        # the same item again within result_ttl → 0 upstream calls
        before = relay.scalar("SELECT COUNT(*) FROM upstream_calls")
        again = relay.get(ITEM, tokens[2]).json()
        assert again["code"] == 0
        assert relay.scalar("SELECT COUNT(*) FROM upstream_calls") == before
        assert upstream_charged(upstream) == 1


def wait_for(predicate: object, timeout: float = 30.0, what: str = "condition") -> None:
    """Poll ``predicate()`` until true (generous deadline; never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
