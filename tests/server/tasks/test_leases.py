"""Leases: claim order, attempt counting, heartbeats and fencing of stale attempts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jditem.server.collectors.base import CollectResult
from jditem.server.ids import new_task_id
from jditem.server.store.tables import CachedResult, Task
from jditem.server.tasks.leases import Leases

from .conftest import FakeClock

Maker = async_sessionmaker[AsyncSession]


async def add_task(sm: Maker, clock: FakeClock, item_id: str, *, max_attempts: int = 3) -> str:
    task_id = new_task_id()
    async with sm() as session:
        session.add(
            Task(
                id=task_id,
                item_id=item_id,
                status="queued",
                attempt=0,
                max_attempts=max_attempts,
                submitted_at=clock(),
            )
        )
        await session.commit()
    return task_id


async def load(sm: Maker, task_id: str) -> Task:
    async with sm() as session:
        task = await session.get(Task, task_id)
        assert task is not None
        return task


def leases(sm: Maker, clock: FakeClock, lease: float = 30) -> Leases:
    return Leases(sm, lease_seconds=lease, clock=clock)


async def test_claims_oldest_first_and_counts_attempts(
    sessionmaker: Maker, clock: FakeClock
) -> None:
    first = await add_task(sessionmaker, clock, "1")
    clock.advance(1)
    second = await add_task(sessionmaker, clock, "2")
    lm = leases(sessionmaker, clock)

    a = await lm.claim("w1")
    b = await lm.claim("w2")
    assert a is not None
    assert b is not None
    assert (a.task_id, b.task_id) == (first, second)
    assert a.attempt == 1
    assert a.owner == "w1"
    assert await lm.claim("w3") is None  # both leased, none expired
    row = await load(sessionmaker, first)
    assert row.status == "running"
    assert row.lease_owner == "w1"
    assert row.attempt == 1


async def test_expired_lease_is_reclaimed_and_stale_attempt_is_fenced(
    sessionmaker: Maker, clock: FakeClock
) -> None:
    """A worker that stops heartbeating loses the task; its late writes are refused."""
    task_id = await add_task(sessionmaker, clock, "42")
    lm = leases(sessionmaker, clock, lease=30)
    dead = await lm.claim("dead-worker")
    assert dead is not None
    assert dead.attempt == 1

    clock.advance(29)
    assert await lm.claim("other") is None  # lease still valid
    clock.advance(2)  # lease expired
    alive = await lm.claim("other")
    assert alive is not None
    assert alive.task_id == task_id
    assert alive.attempt == 2

    # The dead attempt wakes up: every write is refused.
    assert await lm.heartbeat(dead) is False
    ok = CollectResult.ok({"skuId": "42", "stale": True})
    assert await lm.complete(dead, ok, result_ttl=60, negative_ttl=10) is False
    assert await lm.fail(dead, "late failure") is None
    assert await lm.release(dead) is False

    assert await lm.heartbeat(alive) is True
    fresh = CollectResult.ok({"skuId": "42", "stale": False})
    assert await lm.complete(alive, fresh, result_ttl=60, negative_ttl=10) is True
    row = await load(sessionmaker, task_id)
    assert (row.status, row.attempt, row.lease_owner) == ("succeeded", 2, None)
    async with sessionmaker() as session:
        cached = await session.get(CachedResult, "42")
    assert cached is not None
    assert cached.payload == {"skuId": "42", "stale": False}
    assert cached.task_id == task_id


async def test_heartbeat_extends_the_lease(sessionmaker: Maker, clock: FakeClock) -> None:
    await add_task(sessionmaker, clock, "9")
    lm = leases(sessionmaker, clock, lease=30)
    claim = await lm.claim("w")
    assert claim is not None
    clock.advance(20)
    assert await lm.heartbeat(claim) is True
    clock.advance(20)  # 40 s after the claim, 20 s after the heartbeat
    assert await lm.claim("thief") is None
    row = await load(sessionmaker, claim.task_id)
    assert row.lease_expires_at is not None


async def test_failures_requeue_until_max_attempts(sessionmaker: Maker, clock: FakeClock) -> None:
    task_id = await add_task(sessionmaker, clock, "5", max_attempts=2)
    lm = leases(sessionmaker, clock)
    first = await lm.claim("w")
    assert first is not None
    assert await lm.fail(first, "boom 1") == "requeued"
    row = await load(sessionmaker, task_id)
    assert (row.status, row.error) == ("queued", "boom 1")
    second = await lm.claim("w")
    assert second is not None
    assert second.attempt == 2
    assert await lm.fail(second, "boom 2") == "failed"
    row = await load(sessionmaker, task_id)
    assert (row.status, row.attempt, row.error) == ("failed", 2, "boom 2")
    assert row.finished_at is not None
    assert await lm.claim("w") is None


async def test_expired_last_attempt_is_failed_by_the_reaper(
    sessionmaker: Maker, clock: FakeClock
) -> None:
    task_id = await add_task(sessionmaker, clock, "6", max_attempts=1)
    lm = leases(sessionmaker, clock, lease=10)
    assert await lm.claim("w") is not None
    assert await lm.fail_exhausted() == []
    clock.advance(11)
    assert await lm.claim("w2") is None  # no attempts left: not claimable
    assert await lm.fail_exhausted() == [(task_id, "6")]
    row = await load(sessionmaker, task_id)
    assert row.status == "failed"
    assert row.error is not None
    assert "lease expired on attempt 1 of 1" in row.error


async def test_not_supported_is_cached_with_negative_ttl(
    sessionmaker: Maker, clock: FakeClock
) -> None:
    await add_task(sessionmaker, clock, "77")
    lm = leases(sessionmaker, clock)
    claim = await lm.claim("w")
    assert claim is not None
    result = CollectResult.not_supported("no such item")
    assert await lm.complete(claim, result, result_ttl=3600, negative_ttl=60) is True
    async with sessionmaker() as session:
        cached = await session.get(CachedResult, "77")
    assert cached is not None
    assert (cached.status, cached.payload) == ("not_supported", {"reason": "no such item"})
    assert cached.expires_at.replace(tzinfo=None) == (clock() + timedelta(seconds=60)).replace(
        tzinfo=None
    )


async def test_concurrent_claimers_never_share_a_task(
    sessionmaker: Maker, clock: FakeClock
) -> None:
    for n in range(10):
        await add_task(sessionmaker, clock, str(1000 + n))
        clock.advance(0.001)
    lm = leases(sessionmaker, clock)
    claims = []
    for _ in range(3):  # a few rounds: losers of a race retry, like a worker would
        got = await asyncio.gather(*(lm.claim(f"w{i}") for i in range(20)))
        claims += [c for c in got if c is not None]
    assert sorted(c.item_id for c in claims) == [str(1000 + n) for n in range(10)]
    async with sessionmaker() as session:
        attempts = (await session.execute(select(Task.attempt))).scalars().all()
    assert attempts == [1] * 10


async def test_a_failed_attempt_waits_out_its_backoff_before_the_next_claim(
    sessionmaker: Maker, clock: FakeClock
) -> None:
    """Backoff between collection attempts: the re-queued task is not claimed at once."""
    task_id = await add_task(sessionmaker, clock, "7")
    lm = leases(sessionmaker, clock)
    claim = await lm.claim("w1")
    assert claim is not None
    assert await lm.fail(claim, "upstream 500", backoff=4.0) == "requeued"
    assert await lm.claim("w2") is None  # still backing off
    clock.advance(4.01)
    again = await lm.claim("w2")
    assert again is not None
    assert again.task_id == task_id
    assert again.attempt == 2


async def test_a_final_failure_fails_the_task_with_attempts_left(
    sessionmaker: Maker, clock: FakeClock
) -> None:
    task_id = await add_task(sessionmaker, clock, "8", max_attempts=5)
    lm = leases(sessionmaker, clock)
    claim = await lm.claim("w1")
    assert claim is not None
    assert await lm.fail(claim, "every endpoint answered an instruction", final=True) == "failed"
    assert (await load(sessionmaker, task_id)).status == "failed"
