"""``get_many`` against the real server (loopback, real SQLite)."""

from __future__ import annotations

from jditem.client import AsyncClient, Client
from tests.support.live_server import LiveServer, live_server


async def test_asked_for_3r_against_limit_r_few_302_after_warmup_no_item_lost() -> None:
    """Server limit R = 30/s (burst 5), client asks 3R: after warm-up < 5 % are 302."""
    rate, n = 30.0, 240
    ids = [str(400_000_000_000 + i) for i in range(n)]
    with live_server(sandbox_latency_ms=(5, 20)) as live:
        token = live.make_token("acme", balance_yuan="100", rate=rate, burst=5)
        async with AsyncClient(token, base_url=live.base_url) as client:
            results = [r async for r in client.get_many(ids, concurrency=8, rate=3 * rate)]
        assert sorted(r.item_id for r in results if r.ok) == sorted(ids)
        codes = [c for (c,) in live.rows("SELECT code FROM call_records ORDER BY id")]
    after_warmup = codes[len(codes) // 4 :]
    share = after_warmup.count(302) / len(after_warmup)
    assert share < 0.05, (share, codes.count(302), len(codes))


def test_sync_get_many_twin(live: LiveServer) -> None:
    token = live.make_token("acme", balance_yuan="10")
    ids = [str(410_000_000_000 + i) for i in range(12)]
    with Client(token, base_url=live.base_url) as client:
        results = list(client.get_many([*ids, ids[0]], concurrency=3))
        assert sorted(r.item_id for r in results) == sorted(ids)
        assert all(r.ok for r in results)
        # closing early cancels the run cleanly
        iterator = client.get_many([str(420_000_000_000 + i) for i in range(50)], concurrency=2)
        first = next(iterator)
        iterator.close()
        assert first.ok
