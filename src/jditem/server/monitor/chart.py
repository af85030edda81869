"""An item's price history as an inline SVG step chart (the console's item page; no JS).

Pure: points in, an ``<svg>`` string out (wrap it in ``markupsafe.Markup`` to embed it:
every text in it is escaped here; with its ``xmlns`` it is also a valid ``.svg`` file).
Conventions of :mod:`jditem.server.console.charts`: ``class="chart"``, a ``viewBox``
that scales, ``role="img"`` with an ``aria-label`` (the title and a summary: price range,
last price, how often hidden or out of stock) and a ``<title>``, ``class="axis"`` grid
lines with their labels, a hover ``<title>`` on each mark, "No data yet" when empty.

What it draws, from change points with step semantics
(:func:`jditem.formats.sparkline.steps`): the current price as a step line (horizontal
while a state holds, vertical at a change); **gaps** where the price was not shown
(masked by JD, or absent) — the line breaks and a grey band marks the span ("price
hidden"); **out-of-stock** spans shaded red; a price axis with round ticks and a time
axis whose ticks and labels are in the time zone passed in (hours, days or weeks apart,
at local midnights for days), named under the axis. Colours are presentation
attributes, so a stylesheet may override them through the classes ``price``,
``masked``, ``out-of-stock``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import time as clock_time
from decimal import ROUND_FLOOR, Decimal
from html import escape

from jditem.formats.sparkline import PricedPoint, Span, steps

__all__ = ["price_chart"]

_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 12, 12, 46
#: Time-axis steps to choose from (the shortest giving at most ``_MAX_TICKS`` ticks).
_HOUR_STEPS = (1, 2, 3, 6, 12)
_DAY_STEPS = (1, 2, 7, 14, 28, 91, 182, 364)
_MAX_TICKS = 8
_LINE, _MASKED, _OUT = "#2563eb", "#9ca3af", "#dc2626"


def _yuan(value: Decimal) -> str:
    places = max(2, -int(value.normalize().as_tuple().exponent))
    return f"{value:.{places}f}"


def _nice_step(span: Decimal) -> Decimal:
    """A round tick step (1, 2 or 5 × 10ⁿ) giving about four ticks over ``span`` > 0."""
    raw = span / 4
    magnitude = Decimal(1).scaleb(raw.adjusted())
    for m in (1, 2, 5):
        if m * magnitude >= raw:
            return m * magnitude
    return 10 * magnitude


def _price_ticks(low: Decimal, high: Decimal) -> list[Decimal]:
    if high == low:
        pad = max(low / 20, Decimal("0.5"))
        low, high = max(Decimal(0), low - pad), high + pad
    step = _nice_step(high - low)
    first = (low / step).to_integral_value(rounding=ROUND_FLOOR) * step
    ticks = [first]
    while ticks[-1] < high:
        ticks.append(ticks[-1] + step)
    return ticks


def _time_ticks(begin: datetime, end: datetime, tz: tzinfo) -> tuple[list[datetime], bool]:
    """Tick instants in ``[begin, end]`` and whether they are whole days."""
    hours = (end - begin).total_seconds() / 3600
    for h in _HOUR_STEPS:
        if hours / h <= _MAX_TICKS:
            local = begin.astimezone(tz).replace(minute=0, second=0, microsecond=0)
            ticks, t = [], local
            while t <= end:
                if t >= begin and t.astimezone(tz).hour % h == 0:
                    ticks.append(t)
                t = (t.astimezone(UTC) + timedelta(hours=1)).astimezone(tz)  # not wall time
            return ticks, False
    days = next((d for d in _DAY_STEPS if hours / 24 / d <= _MAX_TICKS), _DAY_STEPS[-1])
    day = begin.astimezone(tz).date()
    ticks = []
    while True:
        t = datetime.combine(day, clock_time(0), tzinfo=tz)
        if t > end:
            return ticks, True
        if t >= begin:
            ticks.append(t)
        day += timedelta(days=days)


def _runs(flags: Sequence[bool]) -> int:
    """How many maximal runs of ``True`` there are."""
    return sum(1 for i, flag in enumerate(flags) if flag and (i == 0 or not flags[i - 1]))


def _zone_name(tz: tzinfo, at: datetime) -> str:
    return str(getattr(tz, "key", None) or tz.tzname(at.astimezone(tz)) or "UTC")


def _when(span: Span, tz: tzinfo) -> str:
    fmt = "%Y-%m-%d %H:%M"
    return f"{span.start.astimezone(tz):{fmt}} – {span.end.astimezone(tz):{fmt}}"


def _band(x0: float, x1: float, top: float, height: float, css: str, color: str, tip: str) -> str:
    return (
        f'<rect class="{css}" x="{x0:.1f}" y="{top:.1f}" width="{max(x1 - x0, 1.0):.1f}" '
        f'height="{height:.1f}" fill="{color}" fill-opacity="0.15"><title>{escape(tip)}</title>'
        "</rect>"
    )


def price_chart(
    points: Sequence[PricedPoint],
    *,
    end: datetime,
    tz: tzinfo,
    title: str,
    start: datetime | None = None,
    width: int = 960,
    height: int = 280,
) -> str:
    """The chart over ``[start, end)`` (``start``: the first point) as an ``<svg>`` string.

    ``end`` is passed in (e.g. now): nothing here reads a clock. ``title`` names the
    chart for screen readers and tooltips (escaped here).
    """
    spans = [s for s in steps(points, end) if start is None or s.end > start]
    begin = (spans[0].start if start is None else start) if spans else end
    if start is not None:
        spans = [Span(max(s.start, start), s.end, s.price, s.in_stock, s.masked) for s in spans]
    prices = [s.price for s in spans if s.price is not None]
    summary = "no price shown yet"
    if prices:
        last = next(s.price for s in reversed(spans) if s.price is not None)
        summary = (
            f"from {_yuan(min(prices))} to {_yuan(max(prices))} yuan, last shown {_yuan(last)} yuan"
        )
    hidden = _runs([s.price is None for s in spans])
    out = _runs([s.in_stock is False for s in spans])
    label = f"{title}: {summary}; price hidden {hidden} time(s), out of stock {out} time(s)"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart price-chart" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}"><title>{escape(title)}</title>'
    ]
    total = (end - begin).total_seconds()
    if not prices or total <= 0:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">No data yet</text></svg>'
        )
        return "".join(parts)
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    ticks = _price_ticks(min(prices), max(prices))
    y_low, y_high = float(ticks[0]), float(ticks[-1])

    def x(at: datetime) -> float:
        return _LEFT + plot_w * (at - begin).total_seconds() / total

    def y(price: Decimal) -> float:
        return _TOP + plot_h * (y_high - float(price)) / (y_high - y_low)

    for tick in ticks:
        ty = y(tick)
        parts.append(
            f'<line class="axis" x1="{_LEFT}" x2="{width - _RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" '
            f'stroke="#e5e7eb"/><text x="{_LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">'
            f"{escape(_yuan(tick))}</text>"
        )
    for span in spans:
        when = _when(span, tz)
        if span.in_stock is False:
            tip = f"Out of stock, {when}"
            parts.append(_band(x(span.start), x(span.end), _TOP, plot_h, "out-of-stock", _OUT, tip))
        if span.price is None:
            why = "masked by JD" if span.masked else "not shown"
            tip = f"Price hidden ({why}), {when}"
            parts.append(_band(x(span.start), x(span.end), _TOP, plot_h, "masked", _MASKED, tip))
    path: list[str] = []
    previous: Span | None = None
    for span in spans:
        if span.price is not None:
            x0, x1, sy = x(span.start), x(span.end), y(span.price)
            joined = previous is not None and previous.price is not None
            path.append(f"V{sy:.1f}H{x1:.1f}" if joined else f"M{x0:.1f} {sy:.1f}H{x1:.1f}")
            tip = f"{_yuan(span.price)} yuan, {_when(span, tz)}"
            parts.append(
                f'<rect x="{x0:.1f}" y="{sy - 6:.1f}" width="{max(x1 - x0, 1.0):.1f}" height="12" '
                f'fill="transparent"><title>{escape(tip)}</title></rect>'
            )
        previous = span
    parts.append(
        f'<path class="price" d="{"".join(path)}" fill="none" stroke="{_LINE}" stroke-width="2"/>'
    )
    day_ticks, whole_days = _time_ticks(begin, end, tz)
    years = {begin.astimezone(tz).year, end.astimezone(tz).year}
    for instant in day_ticks:
        local = instant.astimezone(tz)
        if whole_days:
            text = f"{local:%Y-%m-%d}" if len(years) > 1 else f"{local:%m-%d}"
        else:
            text = (
                f"{local:%m-%d %H:%M}"
                if local.hour == 0 or instant == day_ticks[0]
                else f"{local:%H:%M}"
            )
        tx = x(instant)
        parts.append(
            f'<line class="axis" x1="{tx:.1f}" x2="{tx:.1f}" y1="{_TOP + plot_h}" '
            f'y2="{_TOP + plot_h + 4}" stroke="#9ca3af"/><text x="{tx:.1f}" '
            f'y="{_TOP + plot_h + 18}" text-anchor="middle">{escape(text)}</text>'
        )
    parts.append(
        f'<text x="{width - _RIGHT}" y="{height - 6}" text-anchor="end">'
        f"Times in {escape(_zone_name(tz, end))}</text></svg>"
    )
    return "".join(parts)
