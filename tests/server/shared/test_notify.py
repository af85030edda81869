"""The notifier: its contract on both implementations (latched per-subscriber wake-ups,
no lost notification, one idle worker per work signal), then the in-process latches."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from jditem.server.shared.notify import WORK_CHANNEL, InProcessNotifier, Notifier
from tests.server.shared.redis_parts import WAKE
from tests.support.waiting import await_until


async def test_notify_wakes_a_waiter(notifier: Notifier) -> None:
    async with notifier.subscribe("100") as sub:
        waiter = asyncio.create_task(sub.wait(60))
        await notifier.notify("100")
        assert await waiter is True  # woken by the notification (else False after 60 s)


async def test_wait_times_out_without_notification(notifier: Notifier) -> None:
    assert await notifier.wait("100", timeout=0.02) is False


async def test_a_notification_between_subscribe_and_wait_is_not_lost(notifier: Notifier) -> None:
    """Subscribe first, read state, then wait: a notify in between is latched."""
    async with notifier.subscribe("7") as sub:
        await notifier.notify("7")  # happens while the subscriber "reads the database"
        assert await sub.wait(WAKE) is True
        assert await sub.wait(0) is False  # consumed


async def test_channels_are_separate(notifier: Notifier) -> None:
    async with notifier.subscribe("1") as one, notifier.subscribe_work() as work:
        await notifier.notify("2")
        assert await one.wait(0.05) is False
        assert await work.wait(0) is False


async def test_notify_wakes_every_subscriber(notifier: Notifier) -> None:
    async with AsyncExitStack() as stack:
        subs = [await stack.enter_async_context(notifier.subscribe("5")) for _ in range(20)]
        await notifier.notify("5")
        assert await asyncio.gather(*(sub.wait(WAKE) for sub in subs)) == [True] * 20


async def test_each_work_signal_wakes_one_idle_worker(notifier: Notifier) -> None:
    """No thundering herd: two signals to three idle workers wake two of them."""
    woken: list[int] = []
    subscribed = [asyncio.Event() for _ in range(3)]

    async def worker(n: int) -> None:
        async with notifier.subscribe_work() as sub:
            subscribed[n].set()
            if await sub.wait(3 * WAKE):
                woken.append(n)

    workers = [asyncio.create_task(worker(n)) for n in range(3)]
    try:
        await asyncio.gather(*(event.wait() for event in subscribed))
        await notifier.notify_work()
        await notifier.notify_work()
        await await_until(lambda: len(woken) == 2, what="two workers to wake", timeout=WAKE)
        await asyncio.wait(workers, timeout=0.5)  # a wrong third wake-up would show here
        assert len(woken) == 2
        assert len(set(woken)) == 2
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


async def test_in_process_work_signals_are_latched_one_per_worker() -> None:
    """In one process a signal latches on a subscribed worker that is not waiting yet;
    more signals than workers wake each worker once, no more."""
    notifier = InProcessNotifier()
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
        for _ in range(5):
            await notifier.notify_work()
        assert [await s.wait(0) for s in (a, b, c)] == [True, True, True]
        assert notifier.subscribers(WORK_CHANNEL) == 3
    assert notifier.subscribers(WORK_CHANNEL) == 0


async def test_in_process_subscriptions_end_with_their_waits() -> None:
    """A timed-out wait and a closed subscription leave no subscriber behind."""
    notifier = InProcessNotifier()
    assert await notifier.wait("100", timeout=0.02) is False
    assert notifier.subscribers("100") == 0
    async with notifier.subscribe("1"), notifier.subscribe_work() as work:
        assert notifier.subscribers(WORK_CHANNEL) == 1
        await notifier.notify_work()
        assert await work.wait(0) is True
    assert notifier.subscribers(WORK_CHANNEL) == 0
    assert notifier.subscribers("1") == 0
