"""Upstream accounting: every upstream call and circuit change recorded; the summary.

:class:`UpstreamLedger` writes one ``upstream_calls`` row per upstream call (upstream
request id, endpoint, code, charged or not, latency) and one ``upstream_events`` row
per circuit change. :func:`summarize` reads them back next to the charges made to
callers (``call_records``): per local day, the upstream's charged calls against the
callers' charged calls, and the savings from the cache and coalescing (caller charges
that needed no upstream charge). The console's Upstream page and ``jditem admin
upstream`` both print this summary. No row ever holds the upstream token.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.server.store.db import Database
from jditem.server.store.tables import CallRecord, UpstreamCall, UpstreamEvent
from jditem.server.tasks.clock import Clock, iso_local, now_utc
from jditem.server.upstream.circuit import CircuitChange

log = logging.getLogger("jditem.server.upstream")

#: Upstream outcomes that count as failures in the upstream health level.
FAILED_OUTCOMES = ("retryable_error", "transport_error", "timeout", "protocol_error")


@dataclass(frozen=True)
class UpstreamCallRow:
    """One upstream call, as recorded."""

    item_id: str
    endpoint: str
    code: int | None
    http_status: int | None
    outcome: str
    upstream_request_id: str | None
    charged: bool
    latency_ms: int


class UpstreamLedger:
    """Writes upstream calls and circuit changes (each in its own short transaction)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._pending: set[asyncio.Task[None]] = set()

    async def record_call(self, row: UpstreamCallRow) -> None:
        """Write one upstream call (errors are logged, never raised)."""
        await self._add(
            UpstreamCall(
                created_at=now_utc(self._clock),
                item_id=row.item_id,
                endpoint=row.endpoint,
                code=row.code,
                http_status=row.http_status,
                outcome=row.outcome,
                upstream_request_id=(row.upstream_request_id or None),
                charged=row.charged,
                latency_ms=row.latency_ms,
            ),
            f"an upstream call for item {row.item_id}",
        )

    def circuit_changed(self, change: CircuitChange) -> None:
        """``Circuit.on_change`` hook: log the change and record it (in the background)."""
        log.warning("upstream circuit %s: %s", change.state, change.message)
        task = asyncio.get_running_loop().create_task(self._record_event(change))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _record_event(self, change: CircuitChange) -> None:
        await self._add(
            UpstreamEvent(
                created_at=now_utc(self._clock),
                state=change.state,
                code=change.code,
                message=change.message,
            ),
            "an upstream circuit change",
        )

    async def _add(self, row: UpstreamCall | UpstreamEvent, what: str) -> None:
        """Write ``row`` in its own short transaction; a failure is logged, never raised."""
        try:
            async with self._db.writing() as session:
                session.add(row)
        except Exception:
            log.exception("could not record %s", what)

    async def drain(self) -> None:
        """Wait for background event writes (at shutdown)."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=2.0)


@dataclass
class DayFigures:
    """One local day of the summary."""

    day: str
    upstream_calls: int = 0
    upstream_charged: int = 0
    caller_charged_calls: int = 0
    caller_charges_units: int = 0

    @property
    def saved_calls(self) -> int:
        """Caller charges served without an upstream charge (cache and coalescing)."""
        return max(0, self.caller_charged_calls - self.upstream_charged)


@dataclass
class UpstreamSummary:
    """What the Upstream page and ``jditem admin upstream`` show."""

    days: list[DayFigures]
    endpoints: dict[str, int]
    codes: dict[str, int]
    circuit_state: str
    circuit_code: int | None
    circuit_message: str
    history: list[dict[str, Any]]
    health_level: str
    health_success_rate: float | None
    health_samples: int
    upstream_price_units: int
    totals: DayFigures = field(default_factory=lambda: DayFigures("total"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (admin API)."""
        return {
            "days": [_day_dict(day) for day in self.days],
            "totals": _day_dict(self.totals),
            "endpoints": self.endpoints,
            "codes": self.codes,
            "circuit": {
                "state": self.circuit_state,
                "code": self.circuit_code,
                "message": self.circuit_message,
                "history": self.history,
            },
            "health": {
                "level": self.health_level,
                "successRate": self.health_success_rate,
                "samples": self.health_samples,
            },
            "upstreamPriceUnits": self.upstream_price_units,
        }


def _day_dict(day: DayFigures) -> dict[str, Any]:
    return {
        "day": day.day,
        "upstreamCalls": day.upstream_calls,
        "upstreamCharged": day.upstream_charged,
        "callerChargedCalls": day.caller_charged_calls,
        "callerChargesUnits": day.caller_charges_units,
        "savedCalls": day.saved_calls,
    }


def health_level(rate: float | None, samples: int, settings: Any) -> str:
    """The SPEC §2.7 level for a success rate (same thresholds as the endpoint's)."""
    if rate is None or samples < settings.health_min_samples:
        return "no_data"
    if rate >= settings.health_healthy:
        return "healthy"
    if rate >= settings.health_available:
        return "available"
    if rate >= settings.health_limited:
        return "limited"
    return "mostly_unavailable"


async def summarize(
    session: AsyncSession, settings: Any, now: datetime, *, days: int = 7
) -> UpstreamSummary:
    """Per-day figures for the last ``days`` local days, circuit history, health level."""
    zone = ZoneInfo(settings.timezone)
    today = now.astimezone(zone).date()
    figures: list[DayFigures] = []
    totals = DayFigures("total")
    for back in range(days):
        day = today - timedelta(days=back)
        start = datetime.combine(day, time(0), tzinfo=zone)
        end = start + timedelta(days=1)
        up = (
            await session.execute(
                select(
                    func.count(UpstreamCall.id),
                    func.coalesce(func.sum(case((UpstreamCall.charged, 1), else_=0)), 0),
                ).where(UpstreamCall.created_at >= start, UpstreamCall.created_at < end)
            )
        ).one()
        callers = (
            await session.execute(
                select(func.count(CallRecord.id), func.coalesce(func.sum(CallRecord.charged), 0))
                .where(CallRecord.created_at >= start, CallRecord.created_at < end)
                .where(CallRecord.charged > 0)
            )
        ).one()
        entry = DayFigures(
            day.isoformat(), int(up[0]), int(up[1]), int(callers[0]), int(callers[1])
        )
        figures.append(entry)
        totals.upstream_calls += entry.upstream_calls
        totals.upstream_charged += entry.upstream_charged
        totals.caller_charged_calls += entry.caller_charged_calls
        totals.caller_charges_units += entry.caller_charges_units
    since = datetime.combine(today - timedelta(days=days - 1), time(0), tzinfo=zone)
    endpoints = {
        str(name): int(count)
        for name, count in (
            await session.execute(
                select(UpstreamCall.endpoint, func.count(UpstreamCall.id))
                .where(UpstreamCall.created_at >= since)
                .group_by(UpstreamCall.endpoint)
            )
        ).all()
    }
    codes = {
        ("none" if code is None else str(code)): int(count)
        for code, count in (
            await session.execute(
                select(UpstreamCall.code, func.count(UpstreamCall.id))
                .where(UpstreamCall.created_at >= since)
                .group_by(UpstreamCall.code)
            )
        ).all()
    }
    events = (
        await session.execute(select(UpstreamEvent).order_by(UpstreamEvent.id.desc()).limit(20))
    ).scalars()
    history = [
        {
            "at": iso_local(event.created_at, settings.timezone, "seconds"),
            "state": event.state,
            "code": event.code,
            "message": event.message,
        }
        for event in events
    ]
    window = now - timedelta(seconds=settings.health_window_seconds)
    outcomes = (
        await session.execute(
            select(UpstreamCall.outcome, func.count(UpstreamCall.id))
            .where(UpstreamCall.created_at >= window)
            .group_by(UpstreamCall.outcome)
        )
    ).all()
    ok = sum(int(n) for outcome, n in outcomes if outcome in ("ready", "pending", "not_supported"))
    failed = sum(int(n) for outcome, n in outcomes if outcome in FAILED_OUTCOMES)
    samples = ok + failed
    rate = ok / samples if samples else None
    latest = history[0] if history else {"state": "closed", "code": None, "message": ""}
    return UpstreamSummary(
        days=figures,
        endpoints=endpoints,
        codes=codes,
        circuit_state=str(latest["state"]),
        circuit_code=None if latest["code"] is None else int(latest["code"]),
        circuit_message=str(latest["message"]),
        history=history,
        health_level=health_level(rate, samples, settings),
        health_success_rate=None if rate is None else round(rate, 4),
        health_samples=samples,
        upstream_price_units=settings.upstream_price_units,
        totals=totals,
    )
