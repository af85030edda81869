"""Fixtures for the task queue tests: a real database (each profile) and test doubles.

The collector doubles implement the :class:`~jditem.server.collectors.base.Collector`
*interface* (counting calls, scripted answers); everything else is the real code.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from jditem.server.collectors.base import CollectError, CollectResult
from jditem.server.settings import Settings
from jditem.server.shared.notify import InProcessNotifier
from jditem.server.store.db import create_engine, create_sessionmaker
from jditem.server.store.tables import Base
from tests.support.backends import FreshDatabase


class FakeClock:
    """A settable clock (aware UTC); ``advance`` moves it forward."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 28, 2, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class ScriptedCollector:
    """Counts calls; answers per item from ``script`` (default: an ok payload).

    A script entry is a callable ``(item_id, call_no) -> CollectResult`` that may raise
    :class:`CollectError`. ``gate`` (when set) blocks every call until it is set.
    """

    delay: float = 0.0
    script: dict[str, Callable[[str, int], CollectResult]] = field(default_factory=dict)
    gate: asyncio.Event | None = None
    calls: list[str] = field(default_factory=list)
    cancelled: int = 0

    def count(self, item_id: str) -> int:
        return self.calls.count(item_id)

    async def collect(self, item_id: str) -> CollectResult:
        self.calls.append(item_id)
        call_no = self.count(item_id)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.delay:
                await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        answer = self.script.get(item_id)
        if answer is not None:
            return answer(item_id, call_no)
        return CollectResult.ok(payload_for(item_id, call_no))


def payload_for(item_id: str, call_no: int = 1) -> dict[str, Any]:
    """A small JD-shaped payload; ``call_no`` lets tests tell collections apart."""
    return {"skuId": item_id, "product": {"skuName": f"Item {item_id}"}, "call": call_no}


def always_fail(item_id: str, call_no: int) -> CollectResult:
    raise CollectError(f"upstream timeout for {item_id} (call {call_no})")


def unsupported(item_id: str, call_no: int) -> CollectResult:
    return CollectResult.not_supported(f"item {item_id} does not exist on JD")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "home": tmp_path,
            "workers": 2,
            "worker_poll_seconds": 0.05,
            "lease_seconds": 30.0,
            "heartbeat_seconds": 10.0,
            "max_attempts": 3,
            "sandbox_latency_ms": (0, 0),
            # The fake clock stands still: no backoff between attempts unless a test asks.
            "retry_backoff_seconds": 0.0,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
async def engine(tmp_path: Path, fresh_database: FreshDatabase) -> AsyncIterator[AsyncEngine]:
    """The task store on each profile: a SQLite file, or a fresh PostgreSQL database."""
    eng = create_engine(fresh_database.url or f"sqlite+aiosqlite:///{tmp_path / 'tasks.db'}")
    async with eng.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield eng
    await eng.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
def notifier() -> InProcessNotifier:
    return InProcessNotifier()
