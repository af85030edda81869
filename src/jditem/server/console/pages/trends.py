"""Usage trends (calls per hour/day by code group) and spending (per token per day).

Both pages read the hourly rollups (``usage_hourly``), never the raw call table.
Local days are built in Python from UTC hours, so the SQL stays portable. An account
member sees only its own account's tokens.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from sqlalchemy import func, select
from starlette.responses import Response

from jditem.server.clock import day_start_utc
from jditem.server.console import charts, formatting, scopes
from jditem.server.console.deps import Console, ConsoleDep
from jditem.server.store.tables import ApiToken, UsageHourly

router = APIRouter()

RANGES = {
    "24h": (24, "hour"),
    "48h": (48, "hour"),
    "7d": (7, "day"),
    "30d": (30, "day"),
    "90d": (90, "day"),
}
TOP_TOKENS = len(charts.PALETTE) - 1


def _window(console: Console, span: int, unit: str) -> tuple[datetime, list[datetime | date]]:
    """The UTC start of the window and its buckets (UTC hours or local days)."""
    tz = console.tz
    now = console.now()
    if unit == "hour":
        last = now.replace(minute=0, second=0, microsecond=0)
        hours: list[datetime | date] = [last - timedelta(hours=i) for i in range(span - 1, -1, -1)]
        return last - timedelta(hours=span - 1), hours
    today = now.astimezone(tz).date()
    days: list[datetime | date] = [today - timedelta(days=i) for i in range(span - 1, -1, -1)]
    return day_start_utc(today - timedelta(days=span - 1), tz), days


class _Buckets:
    """Maps rollup hours to chart buckets (UTC hours or local days), memoised per hour."""

    def __init__(self, buckets: list[datetime | date], unit: str, tz: ZoneInfo) -> None:
        self._index = {bucket: i for i, bucket in enumerate(buckets)}
        self._unit = unit
        self._tz = tz
        self._memo: dict[datetime, int | None] = {}

    def position(self, hour: datetime) -> int | None:
        """The bucket index of ``hour``, or None outside the window."""
        if hour not in self._memo:
            key = hour if self._unit == "hour" else hour.astimezone(self._tz).date()
            self._memo[hour] = self._index.get(key)
        return self._memo[hour]


def _label(bucket: datetime | date, unit: str, tz: ZoneInfo) -> str:
    if unit == "hour" and isinstance(bucket, datetime):
        return bucket.astimezone(tz).strftime("%m-%d %H:00")
    return bucket.strftime("%m-%d")


def _range(console: Console, default: str) -> tuple[str, int, str]:
    key = console.request.query_params.get("range", default)
    if key not in RANGES:
        key = default
    span, unit = RANGES[key]
    return key, span, unit


@router.get("/trends")
async def trends_page(console: ConsoleDep) -> Response:
    """Calls per hour or per day, stacked by code group."""
    key, span, unit = _range(console, "48h")
    start, buckets = _window(console, span, unit)
    rows = await console.db.execute(
        select(UsageHourly.hour, UsageHourly.code, func.sum(UsageHourly.calls))
        .where(UsageHourly.hour >= start, scopes.usage(console.principal))
        .group_by(UsageHourly.hour, UsageHourly.code)
    )
    tz = console.tz
    positions = _Buckets(buckets, unit, tz)
    groups = [name for name, _css in formatting.CODE_GROUPS]
    values = {name: [0] * len(buckets) for name in groups}
    by_code: dict[int, int] = defaultdict(int)
    for hour, code, calls in rows:
        position = positions.position(hour)
        if position is None:
            continue
        values[formatting.code_group(code)][position] += int(calls)
        by_code[code] += int(calls)
    series = [
        charts.Series(name, values[name], css_class=css) for name, css in formatting.CODE_GROUPS
    ]
    columns = [_label(b, unit, tz) for b in buckets]
    total = sum(by_code.values())
    return console.render(
        "trends.html",
        range_key=key,
        ranges=list(RANGES),
        chart=charts.stacked_bars(columns, series, title=f"Calls per {unit} by code group"),
        legend=charts.legend(series),
        unit=unit,
        table=list(zip(columns, *(s.values for s in series), strict=True)),
        groups=groups,
        by_code=sorted(by_code.items()),
        total=total,
    )


@router.get("/spending")
async def spending_page(console: ConsoleDep) -> Response:
    """Spend per token per local day (from the hourly rollups)."""
    key, span, _unit = _range(console, "30d")
    span = span if RANGES[key][1] == "day" else 7
    start, buckets = _window(console, span, "day")
    rows = await console.db.execute(
        select(UsageHourly.hour, UsageHourly.token_id, func.sum(UsageHourly.spend))
        .where(UsageHourly.hour >= start, UsageHourly.spend != 0, scopes.usage(console.principal))
        .group_by(UsageHourly.hour, UsageHourly.token_id)
    )
    tz = console.tz
    positions = _Buckets(buckets, "day", tz)
    per_token: dict[int, list[int]] = defaultdict(lambda: [0] * len(buckets))
    for hour, token_id, spend in rows:
        position = positions.position(hour)
        if position is not None:
            per_token[int(token_id)][position] += int(spend)
    names = {
        tid: f"{prefix}… {name}".strip()
        for tid, prefix, name in await console.db.execute(
            select(ApiToken.id, ApiToken.prefix, ApiToken.name).where(
                scopes.tokens(console.principal)
            )
        )
    }
    ranked = sorted(per_token.items(), key=lambda item: sum(item[1]), reverse=True)
    series = [
        charts.Series(names.get(tid, f"token {tid}"), values, color=charts.PALETTE[i])
        for i, (tid, values) in enumerate(ranked[:TOP_TOKENS])
    ]
    if len(ranked) > TOP_TOKENS:
        other = [sum(v[i] for _t, v in ranked[TOP_TOKENS:]) for i in range(len(buckets))]
        series.append(charts.Series("other tokens", other, color=charts.PALETTE[-1]))
    columns = [_label(b, "day", tz) for b in buckets]
    rows_out = [
        (names.get(tid, f"token {tid}"), tid, values, sum(values)) for tid, values in ranked
    ]
    day_totals = [sum(v[i] for _t, v in ranked) for i in range(len(buckets))]
    return console.render(
        "spending.html",
        range_key=key,
        ranges=[k for k, (_s, u) in RANGES.items() if u == "day"],
        chart=charts.stacked_bars(
            columns, series, title="Spend per token per day", fmt=formatting.money
        ),
        legend=charts.legend(series),
        columns=columns,
        rows=rows_out,
        day_totals=day_totals,
        grand_total=sum(day_totals),
    )
