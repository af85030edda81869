"""SandboxCollector: latency range, failure rate, unsupported ids, catalog payloads."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jditem.server.clock import utc_now
from jditem.server.collectors.base import CollectError
from jditem.server.collectors.catalog import build_payload
from jditem.server.collectors.drift import change_times, drifted_payload, mean_interval
from jditem.server.collectors.sandbox import SandboxCollector
from jditem.server.context import build_collector
from jditem.server.settings import Settings
from jditem.server.shared.limiter import InMemoryRateLimiter
from jditem.server.store.db import Database


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(home=tmp_path, **overrides)


async def test_payload_comes_from_the_catalog_unchanged(tmp_path: Path) -> None:
    sleep = RecordingSleep()
    config = settings(tmp_path, sandbox_latency_ms=(0, 0), sandbox_drift=False)
    collector = SandboxCollector(config, sleep=sleep)
    result = await collector.collect("100012043978")
    assert result.kind == "ok"
    assert result.payload == build_payload("100012043978")
    assert sleep.delays == [0.0]


async def test_latency_is_drawn_from_the_configured_range(tmp_path: Path) -> None:
    sleep = RecordingSleep()
    collector = SandboxCollector(
        settings(tmp_path, sandbox_latency_ms=(200, 800)), rng=1, sleep=sleep
    )
    for n in range(200):
        await collector.collect(str(1000 + n))
    assert all(0.2 <= d <= 0.8 for d in sleep.delays)
    assert max(sleep.delays) - min(sleep.delays) > 0.4  # spread over the range


async def test_real_sleep_is_used_by_default(tmp_path: Path) -> None:
    collector = SandboxCollector(settings(tmp_path, sandbox_latency_ms=(5, 10)))
    result = await collector.collect("1")
    assert result.kind == "ok"


async def test_failure_rate_one_always_raises_collect_error(tmp_path: Path) -> None:
    collector = SandboxCollector(
        settings(tmp_path, sandbox_latency_ms=(0, 0), sandbox_failure_rate=1.0),
        sleep=RecordingSleep(),
    )
    with pytest.raises(CollectError, match="simulated"):
        await collector.collect("100012043978")


async def test_failure_rate_is_roughly_honoured_and_seeded(tmp_path: Path) -> None:
    config = settings(tmp_path, sandbox_latency_ms=(0, 0), sandbox_failure_rate=0.3)

    async def failures(seed: int) -> list[int]:
        collector = SandboxCollector(config, rng=random.Random(seed), sleep=RecordingSleep())
        failed = []
        for n in range(300):
            try:
                await collector.collect(str(n + 1))
            except CollectError:
                failed.append(n)
        return failed

    first = await failures(7)
    assert 50 <= len(first) <= 130  # 30 % of 300 = 90
    assert await failures(7) == first  # same seed, same run


async def test_unsupported_ids_answer_not_supported(tmp_path: Path) -> None:
    collector = SandboxCollector(
        settings(tmp_path, sandbox_latency_ms=(0, 0), sandbox_unsupported_ids=["404404"]),
        sleep=RecordingSleep(),
    )
    result = await collector.collect("404404")
    assert result.kind == "not_supported"
    assert result.payload is None
    assert result.reason is not None
    assert "404404" in result.reason
    assert (await collector.collect("404405")).kind == "ok"


async def test_invalid_id_is_not_supported_rather_than_a_crash(tmp_path: Path) -> None:
    collector = SandboxCollector(
        settings(tmp_path, sandbox_latency_ms=(0, 0)), sleep=RecordingSleep()
    )
    result = await collector.collect("12ab")
    assert result.kind == "not_supported"


def test_bad_latency_range_is_rejected_with_advice(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="JDITEM_SANDBOX_LATENCY_MS"):
        SandboxCollector(settings(tmp_path, sandbox_latency_ms=(500, 100)))


async def test_build_collector_gives_the_sandbox(tmp_path: Path) -> None:
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 's.db'}")
    try:
        collector, upstream = build_collector(
            settings(tmp_path), db, utc_now, InMemoryRateLimiter()
        )
    finally:
        await db.dispose()
    assert isinstance(collector, SandboxCollector)
    assert upstream is None


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
#: A catalog item that drifts (seed 0): about one change a day.
MOVING = "100117219515"


def test_the_moving_item_moves() -> None:
    assert 86_400 <= mean_interval(MOVING) < 2 * 86_400


async def test_the_payload_is_the_drift_at_the_clocks_time(tmp_path: Path) -> None:
    clock = FakeClock(START)
    config = settings(tmp_path, sandbox_latency_ms=(0, 0), sandbox_seed=5)
    collector = SandboxCollector(config, sleep=RecordingSleep(), clock=clock)
    served = []
    for days in (0, 3, 11, 40):
        clock.now = START + timedelta(days=days)
        result = await collector.collect(MOVING)
        assert result.payload == drifted_payload(MOVING, clock.now, seed=5)
        served.append(json.dumps(result.payload, sort_keys=True))
    assert len(set(served)) > 1


async def test_speed_multiplies_the_time_since_the_collector_started(tmp_path: Path) -> None:
    clock = FakeClock(START)
    config = settings(tmp_path, sandbox_latency_ms=(0, 0), sandbox_drift_speed=3600)
    collector = SandboxCollector(config, sleep=RecordingSleep(), clock=clock)
    assert collector.sandbox_time() == START.timestamp()
    clock.now = START + timedelta(seconds=90)
    assert collector.sandbox_time() == (START + timedelta(hours=90)).timestamp()
    first_change = change_times(MOVING, START, START + timedelta(days=30))[0]
    clock.now = START + (first_change - START) / 3600  # sandbox time = the change
    result = await collector.collect(MOVING)
    assert result.payload == drifted_payload(MOVING, first_change)
    assert result.payload != drifted_payload(MOVING, START)


async def test_drift_off_serves_the_static_catalog_at_any_time(tmp_path: Path) -> None:
    clock = FakeClock(START)
    config = settings(tmp_path, sandbox_latency_ms=(0, 0), sandbox_drift=False)
    collector = SandboxCollector(config, sleep=RecordingSleep(), clock=clock)
    for days in (0, 3, 108, 365):
        clock.now = START + timedelta(days=days)
        assert (await collector.collect(MOVING)).payload == build_payload(MOVING)


@pytest.mark.parametrize("speed", [0, -1, 2_000_000])
def test_a_bad_speed_is_refused_with_its_name(tmp_path: Path, speed: float) -> None:
    with pytest.raises(ValueError, match="sandbox_drift_speed"):
        settings(tmp_path, sandbox_drift_speed=speed)


def test_drift_settings_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JDITEM_SANDBOX_DRIFT", "false")
    monkeypatch.setenv("JDITEM_SANDBOX_DRIFT_SPEED", "3600")
    config = settings(tmp_path)
    assert config.sandbox_drift is False
    assert config.sandbox_drift_speed == 3600
    monkeypatch.delenv("JDITEM_SANDBOX_DRIFT")
    monkeypatch.delenv("JDITEM_SANDBOX_DRIFT_SPEED")
    default = settings(tmp_path)
    assert (default.sandbox_drift, default.sandbox_drift_speed) == (True, 1.0)  # SPEC §6.5
