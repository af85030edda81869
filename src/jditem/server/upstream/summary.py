"""The upstream summary: what the relay spent upstream next to what callers were charged.

:func:`summarize` reads ``upstream_calls`` and ``upstream_events`` back next to the
charges made to callers (``call_records``): per local day, the upstream's calls, its
*certain* charges (code 0 with product data) and its *possible* charges (ambiguous
calls: sent, no complete answer — SPEC §5), the callers' charged calls, and the savings
from the cache and coalescing (caller charges that needed no upstream charge). Also the
codes answered (a call without an envelope is labelled with what went wrong: "read
timeout", "connection lost", "body too large"...), the circuit's state and history, and
the upstream health level. The console's Upstream page and ``jditem admin upstream``
print it; :func:`spend_today` is the operator's line in health.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.server.clock import day_start_utc, iso_local
from jditem.server.store.tables import CallRecord, UpstreamCall, UpstreamEvent

#: Upstream outcomes that count as failures in the upstream health level.
FAILED_OUTCOMES = ("retryable_error", "transport_error", "timeout", "protocol_error")


@dataclass
class DayFigures:
    """One local day of the summary (``upstream_charged`` is the certain part)."""

    day: str
    upstream_calls: int = 0
    upstream_charged: int = 0
    caller_charged_calls: int = 0
    caller_charges_units: int = 0
    upstream_possibly_charged: int = 0

    @property
    def saved_calls(self) -> int:
        """Caller charges served without an upstream charge (cache and coalescing)."""
        return max(0, self.caller_charged_calls - self.upstream_charged)

    def add(self, other: DayFigures) -> None:
        """Add ``other``'s counts to these (the totals row)."""
        self.upstream_calls += other.upstream_calls
        self.upstream_charged += other.upstream_charged
        self.upstream_possibly_charged += other.upstream_possibly_charged
        self.caller_charged_calls += other.caller_charged_calls
        self.caller_charges_units += other.caller_charges_units

    def to_dict(self, price_units: int) -> dict[str, Any]:
        """JSON-friendly form; spend in units only when the upstream price is known."""
        known = price_units > 0
        return {
            "day": self.day,
            "upstreamCalls": self.upstream_calls,
            "upstreamCharged": self.upstream_charged,
            "upstreamPossiblyCharged": self.upstream_possibly_charged,
            "upstreamSpendUnits": {
                "certain": self.upstream_charged * price_units if known else None,
                "possible": self.upstream_possibly_charged * price_units if known else None,
            },
            "callerChargedCalls": self.caller_charged_calls,
            "callerChargesUnits": self.caller_charges_units,
            "savedCalls": self.saved_calls,
        }


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
        """JSON-friendly form (``jditem admin upstream --json``)."""
        price = self.upstream_price_units
        return {
            "days": [day.to_dict(price) for day in self.days],
            "totals": self.totals.to_dict(price),
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
            "upstreamPriceUnits": price,
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


def code_label(code: int | None, failure: str | None, outcome: str) -> str:
    """How a call is named in the codes table: its code, else what went wrong."""
    if code is not None:
        return str(code)
    return failure or outcome.replace("_", " ")


async def day_figures(
    session: AsyncSession, day: date, zone: ZoneInfo, *, callers: bool = True
) -> DayFigures:
    """The upstream's calls and charges (certain, possible) on local ``day``, and the
    callers' charges unless ``callers`` is False."""
    start, end = day_start_utc(day, zone), day_start_utc(day + timedelta(days=1), zone)
    up = (
        await session.execute(
            select(
                func.count(UpstreamCall.id),
                func.coalesce(func.sum(case((UpstreamCall.charged, 1), else_=0)), 0),
                func.coalesce(func.sum(case((UpstreamCall.possibly_charged, 1), else_=0)), 0),
            ).where(UpstreamCall.created_at >= start, UpstreamCall.created_at < end)
        )
    ).one()
    entry = DayFigures(
        day.isoformat(),
        upstream_calls=int(up[0]),
        upstream_charged=int(up[1]),
        upstream_possibly_charged=int(up[2]),
    )
    if callers:
        charged = (
            await session.execute(
                select(func.count(CallRecord.id), func.coalesce(func.sum(CallRecord.charged), 0))
                .where(CallRecord.created_at >= start, CallRecord.created_at < end)
                .where(CallRecord.charged > 0)
            )
        ).one()
        entry.caller_charged_calls, entry.caller_charges_units = int(charged[0]), int(charged[1])
    return entry


async def spend_today(session: AsyncSession, settings: Any, now: datetime) -> dict[str, Any]:
    """Today's upstream spend, certain and possible (the operator's view of health)."""
    zone = ZoneInfo(settings.timezone)
    figures = await day_figures(session, now.astimezone(zone).date(), zone, callers=False)
    spend = figures.to_dict(settings.upstream_price_units)
    return {
        "day": spend["day"],
        "calls": spend["upstreamCalls"],
        "charged": spend["upstreamCharged"],
        "possiblyCharged": spend["upstreamPossiblyCharged"],
        "spendUnits": spend["upstreamSpendUnits"],
    }


async def summarize(
    session: AsyncSession, settings: Any, now: datetime, *, days: int = 7
) -> UpstreamSummary:
    """Per-day figures for the last ``days`` local days, circuit history, health level."""
    zone = ZoneInfo(settings.timezone)
    today = now.astimezone(zone).date()
    figures: list[DayFigures] = []
    totals = DayFigures("total")
    for back in range(days):
        entry = await day_figures(session, today - timedelta(days=back), zone)
        figures.append(entry)
        totals.add(entry)
    since = day_start_utc(today - timedelta(days=days - 1), zone)
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
    codes: dict[str, int] = {}
    for code, failure, outcome, count in (
        await session.execute(
            select(
                UpstreamCall.code,
                UpstreamCall.failure,
                UpstreamCall.outcome,
                func.count(UpstreamCall.id),
            )
            .where(UpstreamCall.created_at >= since)
            .group_by(UpstreamCall.code, UpstreamCall.failure, UpstreamCall.outcome)
        )
    ).all():
        label = code_label(code, failure, str(outcome))
        codes[label] = codes.get(label, 0) + int(count)
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
        circuit_state=_shown_state(latest, now, settings.upstream_probe_seconds),
        circuit_code=None if latest["code"] is None else int(latest["code"]),
        circuit_message=str(latest["message"]),
        history=history,
        health_level=health_level(rate, samples, settings),
        health_success_rate=None if rate is None else round(rate, 4),
        health_samples=samples,
        upstream_price_units=settings.upstream_price_units,
        totals=totals,
    )


def _shown_state(latest: dict[str, Any], now: datetime, probe_seconds: float) -> str:
    """The recorded state; an ``open`` whose probe time has passed is ``probe_due``."""
    state = str(latest["state"])
    if state == "open" and "at" in latest:
        opened = datetime.fromisoformat(str(latest["at"]))
        if (now - opened).total_seconds() >= probe_seconds:
            return "probe_due"
    return state
