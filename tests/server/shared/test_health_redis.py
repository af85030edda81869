"""The health window shared through Redis: counts are never missing from the report,
whether they wait for the next sync, travel in one, or came back in its totals."""

from __future__ import annotations

import asyncio

from jditem.server.settings import Settings
from jditem.server.shared.health_redis import SharedHealthWindow
from tests.server.shared.redis_parts import started_link
from tests.support.redis_server import RedisServer

#: A wall clock of its own, so this window's Redis slots are its alone.
WALL = 1_000_000_000.0


async def test_counts_are_reported_while_a_sync_carries_them(redis_server: RedisServer) -> None:
    link = await started_link(redis_server.url)
    window = SharedHealthWindow(Settings(), link, wall=lambda: WALL)
    try:
        await window.sync()  # shared totals known (and empty)
        assert window.report().samples == 0
        for _ in range(3):
            window.observe(0)
        window.observe(301)
        window.observe(400)  # a client-side code: not a service outcome
        assert window.report().samples == 4  # pending
        sync = asyncio.create_task(window.sync())
        # One yield, not a wait for time: the sync task runs to its Redis round trip and
        # suspends there (its answer cannot be read in this same loop turn). The assertion
        # holds at every point of the sync; this one catches it in flight, where the old
        # code reported nothing.
        await asyncio.sleep(0)
        assert window.report().samples == 4  # in flight
        await sync
        report = window.report()  # back in the shared totals, counted once
        assert (report.samples, report.success_rate) == (4, 0.75)
    finally:
        await link.stop()
