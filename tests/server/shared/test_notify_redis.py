"""The Redis notifier beyond the contract (``test_notify.py``): item-done reaches every
process, work wakes ONE idle worker in any process, and waits are capped while Redis is
down."""

from __future__ import annotations

import asyncio

from jditem.server.shared.notify_redis import DEGRADED_POLL_SECONDS, RedisNotifier
from tests.server.shared.redis_parts import WAKE, redis_notifier
from tests.support.redis_server import RedisServer
from tests.support.waiting import await_until


async def test_done_in_one_process_wakes_waiters_in_another(redis_server: RedisServer) -> None:
    async with redis_notifier(redis_server.url) as a, redis_notifier(redis_server.url) as b:
        async with b.subscribe("100") as sub_b, a.subscribe("100") as sub_a:
            await a.notify("100")
            assert await sub_a.wait(WAKE)  # own process: direct
            assert await sub_b.wait(WAKE)  # other process: through pub/sub
        async with b.subscribe("200") as other:
            await a.notify("100")
            assert not await other.wait(0.2)  # another item is not woken


async def test_work_wakes_one_idle_worker_in_another_process(redis_server: RedisServer) -> None:
    """An API-only process (no workers) queues work: exactly one of two idle workers wakes."""
    async with (
        redis_notifier(redis_server.url) as api,
        redis_notifier(redis_server.url) as w1,
        redis_notifier(redis_server.url) as w2,
    ):
        woken: list[int] = []

        async def worker(n: int, notifier: RedisNotifier, ready: asyncio.Event) -> None:
            async with notifier.subscribe_work() as sub:
                ready.set()
                if await sub.wait(WAKE):
                    woken.append(n)

        readies = [asyncio.Event(), asyncio.Event()]
        tasks = [
            asyncio.create_task(worker(1, w1, readies[0])),
            asyncio.create_task(worker(2, w2, readies[1])),
        ]
        await asyncio.gather(*(r.wait() for r in readies))
        # both workers must be idle in wait() before the signal is sent
        await await_until(
            lambda: all(any(w.waiting for w in n._workers) for n in (w1, w2)),
            what="both workers idle",
            timeout=WAKE,
        )
        await api.notify_work()
        await await_until(lambda: woken, what="a worker to wake", timeout=WAKE)
        await asyncio.wait(tasks, timeout=1.0)  # a wrong second wake-up would show here
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert len(woken) == 1


async def test_waits_are_capped_while_redis_is_down(redis_server: RedisServer) -> None:
    """Redis down: a waiter re-reads within DEGRADED_POLL_SECONDS instead of its timeout."""
    async with redis_notifier(redis_server.url) as a:
        redis_server.stop()
        try:
            await a.notify_work()  # never raises
            await a.notify("1")

            async def down() -> bool:
                await a._link.beat()
                return not a.cross_process

            await await_until(down, what="the notifier to see Redis down", timeout=WAKE)
            async with a.subscribe("1") as sub:
                # capped: a 60 s wait ends after DEGRADED_POLL_SECONDS (generous bound)
                waited = sub.wait(60.0)
                assert not await asyncio.wait_for(waited, DEGRADED_POLL_SECONDS + WAKE)
        finally:
            redis_server.start()
