"""Upstream.share: circuit changes and pauses travel between the processes of a
deployment over the broadcast (here one LocalBroadcast standing in for Redis pub/sub)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from jditem.server.clock import utc_now
from jditem.server.shared.broadcast import UPSTREAM, LocalBroadcast
from jditem.server.shared.limiter import InMemoryRateLimiter
from jditem.server.store.db import Database
from jditem.server.upstream.accounting import UpstreamLedger
from jditem.server.upstream.circuit import Circuit
from jditem.server.upstream.gateway import Upstream
from jditem.server.upstream.rate import AimdRate


class NoPool:
    async def aclose(self) -> None:
        return None


def process(db: Database, now: list[float]) -> Upstream:
    def clock() -> float:
        return now[0]

    rate = AimdRate(InMemoryRateLimiter(monotonic=clock), 5.0, 5, clock=clock)
    circuit = Circuit(30.0, clock=clock)
    return Upstream("http://vendor", rate, circuit, UpstreamLedger(db, utc_now), NoPool())


async def test_a_circuit_a_worker_opens_is_refused_by_the_api_process(tmp_path: Path) -> None:
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    now = [0.0]
    bus = LocalBroadcast()
    api, worker = process(db, now), process(db, now)
    api.share(bus)
    worker.share(bus)
    seen: list[str] = []
    bus.listen(UPSTREAM, seen.append)

    worker.circuit.trip(601)
    await _flush(worker)
    assert api.status()["circuit"] == "open"
    refusal = api.circuit.refusal()
    assert refusal is not None
    assert refusal.upstream_code == 601

    worker.rate.throttled(3600.0)
    await _flush(worker)
    assert api.status()["pauseSeconds"] == 120
    assert api.rate.current == 5.0  # held, not cut: only the throttled process cuts

    worker.circuit.succeeded()
    await _flush(worker)
    assert api.status()["circuit"] == "closed"
    assert len(seen) == 3
    await db.dispose()


async def _flush(upstream: Upstream) -> None:
    """Let the publishing tasks run (LocalBroadcast delivers within one loop turn)."""
    for _ in range(3):
        await asyncio.sleep(0)
