"""The health window shared through Redis: counts are never missing from the report,
whether they wait for the next sync, travel in one, or came back in its totals."""

from __future__ import annotations

import asyncio

from jditem.server.settings import Settings
from jditem.server.shared.health_redis import SharedHealthWindow
from tests.server.shared.redis_parts import started_link
from tests.support.redis_server import RedisServer
from tests.support.waiting import callbacks_so_far

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
        # Not a wait for time: the sync task's first step runs to its Redis round trip and
        # suspends there (its answer cannot be read in this same loop turn). The assertion
        # holds at every point of the sync; this one catches it in flight, where the old
        # code reported nothing.
        await callbacks_so_far()
        assert window.report().samples == 4  # in flight
        await sync
        report = window.report()  # back in the shared totals, counted once
        assert (report.samples, report.success_rate) == (4, 0.75)
    finally:
        await link.stop()


class _Wall:
    """A wall clock the test moves."""

    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


async def test_running_totals_follow_the_window_across_processes(
    redis_server: RedisServer,
) -> None:
    """Two processes' counts, with slots leaving the window: the totals are those of the
    slots still inside it, as summing the slots one by one gives."""
    settings = Settings(health_window_seconds=60, health_min_samples=1)
    wall = _Wall(WALL)
    links = [await started_link(redis_server.url) for _ in range(2)]
    windows = [SharedHealthWindow(settings, link, wall=wall) for link in links]
    counted: dict[int, list[int]] = {}  # slot -> [ok, failed], all processes
    try:
        for step in range(20):  # 5 s apart: 100 s, so the first slots leave the 60 s window
            for n, window in enumerate(windows):
                for i in range(step % 4 + n):
                    code = 0 if (i + step) % 3 else 500
                    window.observe(code)
                    slot = int(wall.at) // 10 * 10
                    counted.setdefault(slot, [0, 0])[0 if code == 0 else 1] += 1
                await window.sync()
            first = (int(wall.at) - 60) // 10 * 10 + 10
            inside = [c for slot, c in counted.items() if slot >= first]
            expected = (sum(c[0] for c in inside), sum(c[1] for c in inside))
            for window in windows:
                await window.sync()
                report = window.report()
                assert report.samples == sum(expected), step
                assert report.success_rate == round(expected[0] / sum(expected), 4), step
            wall.at += 5
    finally:
        for link in links:
            await link.stop()


async def test_a_lagging_clock_and_a_long_gap_keep_the_totals_true(
    redis_server: RedisServer,
) -> None:
    settings = Settings(health_window_seconds=60, health_min_samples=1)
    ahead, behind = _Wall(WALL + 30), _Wall(WALL)
    links = [await started_link(redis_server.url) for _ in range(2)]
    first = SharedHealthWindow(settings, links[0], wall=ahead)
    second = SharedHealthWindow(settings, links[1], wall=behind)
    try:
        for _ in range(2):
            first.observe(0)
        await first.sync()
        ahead.at += 60  # the first process's counts leave its window
        await first.sync()
        assert first.report().samples == 0
        # a process 90 s behind counts into a slot the window has already left: the
        # counts are outside the window, not added to the totals
        second.observe(0)
        await second.sync()
        await first.sync()
        assert first.report().samples == 0
        # nobody synced for longer than the window's expiry: the totals are recounted
        first.observe(500)
        await first.sync()
        ahead.at += 10_000
        first.observe(0)
        await first.sync()
        report = first.report()
        assert (report.samples, report.success_rate) == (1, 1.0)
    finally:
        for link in links:
            await link.stop()
