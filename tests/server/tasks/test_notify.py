"""The in-process notifier: latched per-subscriber wake-ups, no lost notifications."""

from __future__ import annotations

import asyncio
import time

from jditem.server.shared.notify import WORK_CHANNEL, InProcessNotifier
from tests.support.waiting import await_until


async def test_notify_wakes_a_waiter_promptly(notifier: InProcessNotifier) -> None:
    waiter = asyncio.create_task(notifier.wait("100", timeout=60))
    await await_until(lambda: notifier.subscribers("100") == 1, what="the waiter subscribed")
    started = time.perf_counter()
    await notifier.notify("100")
    assert await waiter is True
    assert time.perf_counter() - started < 10, "woken by the notification, not the 60 s timeout"


async def test_wait_times_out_without_notification(notifier: InProcessNotifier) -> None:
    assert await notifier.wait("100", timeout=0.02) is False
    assert notifier.subscribers("100") == 0


async def test_notification_between_subscribe_and_wait_is_not_lost(
    notifier: InProcessNotifier,
) -> None:
    """Subscribe first, read state, then wait: a notify in between is latched."""
    async with notifier.subscribe("7") as sub:
        await notifier.notify("7")  # happens while the subscriber "reads the database"
        assert await sub.wait(0) is True
        assert await sub.wait(0) is False  # consumed


async def test_channels_are_separate(notifier: InProcessNotifier) -> None:
    async with notifier.subscribe("1") as one, notifier.subscribe_work() as work:
        await notifier.notify("2")
        assert await one.wait(0.01) is False
        assert await work.wait(0) is False
        await notifier.notify_work()
        assert await work.wait(0) is True
        assert notifier.subscribers(WORK_CHANNEL) == 1
    assert notifier.subscribers(WORK_CHANNEL) == 0
    assert notifier.subscribers("1") == 0


async def test_notify_wakes_every_subscriber(notifier: InProcessNotifier) -> None:
    waiters = [asyncio.create_task(notifier.wait("5", timeout=60)) for _ in range(20)]
    await await_until(lambda: notifier.subscribers("5") == 20, what="every waiter subscribed")
    await notifier.notify("5")
    assert await asyncio.gather(*waiters) == [True] * 20


async def test_notify_work_wakes_one_idle_worker_at_a_time(notifier: InProcessNotifier) -> None:
    """No thundering herd: each "work queued" signal wakes one worker, not every one."""
    async with (
        notifier.subscribe_work() as a,
        notifier.subscribe_work() as b,
        notifier.subscribe_work() as c,
    ):
        await notifier.notify_work()
        assert [await s.wait(0) for s in (a, b, c)].count(True) == 1
        await notifier.notify_work()
        await notifier.notify_work()  # a second signal goes to another idle worker
        assert [await s.wait(0) for s in (a, b, c)].count(True) == 2
        for _ in range(5):  # more signals than workers: each is woken once, no more
            await notifier.notify_work()
        assert [await s.wait(0) for s in (a, b, c)] == [True, True, True]
