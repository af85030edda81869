"""Integration: the real server on 127.0.0.1 coalesces 100 concurrent calls into one task."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.live_server import live_server

# once per store profile (tests/conftest.py: backend)
pytestmark = pytest.mark.usefixtures("backend")


async def test_100_concurrent_http_calls_from_10_tokens_make_one_task() -> None:
    # Every call waits for the one task (not the 5 s test default, which a busy machine
    # can outlast: those calls would answer 102 pending instead of the product).
    with live_server(sandbox_latency_ms=(300, 300), workers=2, wait_seconds=60) as live:
        tokens = [live.make_token("acme", name=f"t{n}") for n in range(10)]
        url = live.base_url + "/api/jd/get-item-detail/v2"
        async with httpx.AsyncClient(timeout=90) as client:
            responses = await asyncio.gather(
                *(
                    client.get(
                        url,
                        params={"itemId": "100012043978"},
                        headers={"Authorization": f"Bearer {tokens[n % 10]}"},
                    )
                    for n in range(100)
                )
            )
        bodies = [r.json() for r in responses]
        assert {b["code"] for b in bodies} == {0}
        assert all(b["data"] == bodies[0]["data"] for b in bodies)
        assert live.scalar("SELECT count(*) FROM tasks WHERE item_id = '100012043978'") == 1
        assert live.scalar("SELECT attempt FROM tasks WHERE item_id = '100012043978'") == 1
        assert live.scalar("SELECT count(*) FROM results") == 1
