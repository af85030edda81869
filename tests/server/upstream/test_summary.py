"""The upstream summary over a real SQLite database: certain + possible spend, failure
labels in the codes table, and the circuit shown as *probe due* once it is time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jditem.server.settings import Settings
from jditem.server.store.db import Database, migrate
from jditem.server.store.tables import UpstreamCall, UpstreamEvent
from jditem.server.upstream.summary import spend_today, summarize

NOW = datetime(2026, 12, 10, 4, 0, tzinfo=UTC)  # noon in Asia/Shanghai


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'summary.db'}")
    await migrate(database.engine)
    yield database
    await database.dispose()


def call(**fields: object) -> UpstreamCall:
    values: dict[str, object] = {
        "created_at": NOW - timedelta(minutes=5),
        "item_id": "1",
        "endpoint": "v2",
        "code": None,
        "http_status": None,
        "outcome": "ready",
        "charged": False,
        "possibly_charged": False,
        "failure": None,
        "latency_ms": 10,
        **fields,
    }
    return UpstreamCall(**values)


async def test_spend_is_certain_plus_possible_and_failures_are_labelled(db: Database) -> None:
    settings = Settings(home=Path("/nonexistent"), upstream_price_units=100)
    async with db.writing() as session:
        session.add_all(
            [
                call(code=0, http_status=200, charged=True),
                call(code=0, http_status=200, charged=True),
                call(outcome="timeout", possibly_charged=True, failure="read timeout"),
                call(outcome="transport_error", possibly_charged=True, failure="connection lost"),
                call(outcome="transport_error", failure="connect failed"),
                call(code=301, http_status=503, outcome="retryable_error"),
            ]
        )
    async with db.reading() as session:
        summary = await summarize(session, settings, NOW, days=2)
        today = await spend_today(session, settings, NOW)
    totals = summary.to_dict()["totals"]
    assert totals["upstreamCalls"] == 6
    assert totals["upstreamCharged"] == 2
    assert totals["upstreamPossiblyCharged"] == 2
    assert totals["upstreamSpendUnits"] == {"certain": 200, "possible": 200}
    assert summary.codes == {
        "0": 2,
        "301": 1,
        "read timeout": 1,
        "connection lost": 1,
        "connect failed": 1,
    }
    assert "none" not in summary.codes
    assert today == {
        "day": "2026-12-10",
        "calls": 6,
        "charged": 2,
        "possiblyCharged": 2,
        "spendUnits": {"certain": 200, "possible": 200},
    }


async def test_an_open_circuit_is_shown_probe_due_once_its_probe_time_has_come(
    db: Database,
) -> None:
    settings = Settings(home=Path("/nonexistent"), upstream_probe_seconds=30)
    async with db.writing() as session:
        session.add(
            UpstreamEvent(
                created_at=NOW - timedelta(seconds=10), state="open", code=601, message="m"
            )
        )
    async with db.reading() as session:
        assert (await summarize(session, settings, NOW)).circuit_state == "open"
        later = NOW + timedelta(seconds=25)
        assert (await summarize(session, settings, later)).circuit_state == "probe_due"


async def test_the_price_unknown_leaves_the_spend_in_calls(db: Database) -> None:
    settings = Settings(home=Path("/nonexistent"))
    async with db.writing() as session:
        session.add(call(outcome="timeout", possibly_charged=True, failure="slow body"))
    async with db.reading() as session:
        summary = await summarize(session, settings, NOW, days=1)
    assert summary.to_dict()["totals"]["upstreamSpendUnits"] == {"certain": None, "possible": None}
    assert summary.totals.upstream_possibly_charged == 1
