"""An item's price history as an inline SVG step chart (the console's item page; no JS).

Pure: points in, an ``<svg>`` string out (wrap it in ``markupsafe.Markup`` to embed it:
every text in it is escaped here; with its ``xmlns`` it is also a valid ``.svg`` file).
Conventions of :mod:`jditem.server.console.charts`: ``class="chart"``, a ``viewBox``
that scales, ``role="img"`` with an ``aria-label`` (the title and a summary: price range,
last price, how often hidden or out of stock) and a ``<title>``, ``class="axis"`` grid
lines with their labels, a hover ``<title>`` on each span at least 2 px wide (its
prices, stock and times), "No data yet" when empty.

What it draws, from change points with step semantics
(:func:`jditem.formats.sparkline.steps`): the current price as a step line (horizontal
while a state holds, vertical at a change); **gaps** where the price was not shown
(masked by JD, or absent) — the line breaks and a grey band marks the span ("price
hidden"); the promo and list prices, which JD keeps readable while it masks the current
one (SPEC §3), as dashed and dotted lines with a legend; **out-of-stock** spans shaded
red; a price axis with round ticks and a time axis whose ticks and labels are in the
time zone passed in (hours, days or weeks apart, at local midnights for days), named
under the axis. Colours are presentation attributes, so a stylesheet may override them
through the classes ``price``, ``promo-price``, ``list-price``, ``masked``,
``out-of-stock``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import time as clock_time
from decimal import ROUND_FLOOR, Decimal
from html import escape

from jditem.formats.sparkline import PricedPoint, Series, Span, steps

__all__ = ["price_chart"]

_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 12, 12, 46
#: Time-axis steps to choose from (the shortest giving at most ``_MAX_TICKS`` ticks).
_HOUR_STEPS = (1, 2, 3, 6, 12)
_DAY_STEPS = (1, 2, 7, 14, 28, 91, 182, 364)
_MAX_TICKS = 8
_MASKED, _OUT = "#9ca3af", "#dc2626"
#: Spans narrower than this (in the viewBox's units) get no hover text of their own.
_MIN_HOVER_PX = 2.0
_Scale = Callable[[datetime], float]
_PriceScale = Callable[[Decimal], float]


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


def _runs(spans: Sequence[Span], flag: Callable[[Span], bool]) -> list[tuple[datetime, datetime]]:
    """The maximal runs of consecutive spans where ``flag`` holds, as (start, end)."""
    runs: list[tuple[datetime, datetime]] = []
    for span in spans:
        if not flag(span):
            continue
        if runs and runs[-1][1] == span.start:
            runs[-1] = (runs[-1][0], span.end)
        else:
            runs.append((span.start, span.end))
    return runs


def _hidden(span: Span) -> bool:
    return span.price is None


def _out(span: Span) -> bool:
    return span.in_stock is False


def _zone_name(tz: tzinfo, at: datetime) -> str:
    return str(getattr(tz, "key", None) or tz.tzname(at.astimezone(tz)) or "UTC")


def _when(span: Span, tz: tzinfo) -> str:
    fmt = "%Y-%m-%d %H:%M"
    return f"{span.start.astimezone(tz):{fmt}} – {span.end.astimezone(tz):{fmt}}"


def _describe(span: Span, tz: tzinfo) -> str:
    """One span in words (its hover text): when, each price, the stock."""
    words = [_when(span, tz)]
    if span.price is not None:
        words.append(f"price {_yuan(span.price)}")
    else:
        words.append("price hidden (masked by JD)" if span.masked else "price not shown")
    if span.promo is not None:
        words.append(f"promo {_yuan(span.promo)}")
    if span.original is not None:
        words.append(f"list {_yuan(span.original)}")
    if span.in_stock is not None:
        words.append("in stock" if span.in_stock else "out of stock")
    return ", ".join(words)


def _band(x0: float, x1: float, top: float, height: float, css: str, color: str) -> str:
    return (
        f'<rect class="{css}" x="{x0:.1f}" y="{top:.1f}" width="{max(x1 - x0, 1.0):.1f}" '
        f'height="{height:.1f}" fill="{color}" fill-opacity="0.15"/>'
    )


#: The lines drawn: (series, CSS class, colour, dash pattern, width, legend).
_SERIES: tuple[tuple[Series, str, str, str, float, str], ...] = (
    ("original", "list-price", "#6b7280", "2 3", 1.5, "list price"),
    ("promo", "promo-price", "#16a34a", "6 4", 1.5, "promo price"),
    ("current", "price", "#2563eb", "", 2.5, "price"),
)


def _step_path(spans: Sequence[Span], series: Series, x: _Scale, y: _PriceScale) -> str:
    """The step line of one series: ``M`` after each gap, ``V``/``H`` along a run."""
    path: list[str] = []
    joined = False
    for span in spans:
        value = span.series(series)
        if value is None:
            joined = False
            continue
        x0, x1, sy = x(span.start), x(span.end), y(value)
        path.append(f"V{sy:.1f}H{x1:.1f}" if joined else f"M{x0:.1f} {sy:.1f}H{x1:.1f}")
        joined = True
    return "".join(path)


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
        spans = [replace(s, start=max(s.start, start)) for s in spans]
    prices = [s.price for s in spans if s.price is not None]
    values = [v for s in spans for v in (s.price, s.promo, s.original) if v is not None]
    label = f"{title}: {_summary(spans, prices)}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart price-chart" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}"><title>{escape(title)}</title>'
    ]
    total = (end - begin).total_seconds()
    if not values or total <= 0:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">No data yet</text></svg>'
        )
        return "".join(parts)
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    ticks = _price_ticks(min(values), max(values))
    y_low, y_high = float(ticks[0]), float(ticks[-1])

    def x(at: datetime) -> float:
        return _LEFT + plot_w * (at - begin).total_seconds() / total

    def y(price: Decimal) -> float:
        return _TOP + plot_h * (y_high - float(price)) / (y_high - y_low)

    for css, color, flag in (("out-of-stock", _OUT, _out), ("masked", _MASKED, _hidden)):
        for run_start, run_end in _runs(spans, flag):  # one band per run: no seams
            parts.append(_band(x(run_start), x(run_end), _TOP, plot_h, css, color))
    for tick in ticks:
        ty = y(tick)
        parts.append(
            f'<line class="axis" x1="{_LEFT}" x2="{width - _RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" '
            f'stroke="#e5e7eb"/><text x="{_LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">'
            f"{escape(_yuan(tick))}</text>"
        )
    legend_x = _LEFT
    for series, css, color, dash, stroke, name in _SERIES:
        d = _step_path(spans, series, x, y)
        if not d:
            continue
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<path class="{css}" d="{d}" fill="none" stroke="{color}" '
            f'stroke-width="{stroke}"{dashes}/>'
        )
        ly = height - 8
        parts.append(
            f'<line x1="{legend_x}" x2="{legend_x + 18}" y1="{ly - 4}" y2="{ly - 4}" '
            f'stroke="{color}" stroke-width="{stroke}"{dashes}/>'
            f'<text x="{legend_x + 22}" y="{ly}">{name}</text>'
        )
        legend_x += 110
    for span in spans:  # on top: one hover text per span, the whole plot's height
        x0, x1 = x(span.start), x(span.end)
        if x1 - x0 < _MIN_HOVER_PX and len(spans) > 1:
            continue  # too narrow to point at; keeps a busy history's chart small
        parts.append(
            f'<rect x="{x0:.1f}" y="{_TOP}" width="{max(x1 - x0, 1.0):.1f}" height="{plot_h}" '
            f'fill="transparent"><title>{escape(_describe(span, tz))}</title></rect>'
        )
    parts.extend(_time_axis(begin, end, tz, x, _TOP + plot_h))
    parts.append(
        f'<text x="{width - _RIGHT}" y="{height - 8}" text-anchor="end">'
        f"Times in {escape(_zone_name(tz, end))}</text></svg>"
    )
    return "".join(parts)


def _summary(spans: Sequence[Span], prices: Sequence[Decimal]) -> str:
    """The chart in words, for its ``aria-label``."""
    if prices:
        last = next(s.price for s in reversed(spans) if s.price is not None)
        text = f"price from {_yuan(min(prices))} to {_yuan(max(prices))} yuan, last {_yuan(last)}"
    else:
        text = "no price shown yet"
    promos = [s.promo for s in spans if s.promo is not None]
    if promos:
        text += f"; promo price from {_yuan(min(promos))} to {_yuan(max(promos))} yuan"
    hidden, out = len(_runs(spans, _hidden)), len(_runs(spans, _out))
    return f"{text}; price hidden {hidden} time(s), out of stock {out} time(s)"


def _time_axis(begin: datetime, end: datetime, tz: tzinfo, x: _Scale, axis_y: float) -> list[str]:
    """Tick marks and labels along the bottom, in ``tz``."""
    ticks, whole_days = _time_ticks(begin, end, tz)
    years = {begin.astimezone(tz).year, end.astimezone(tz).year}
    parts = []
    for instant in ticks:
        local = instant.astimezone(tz)
        if whole_days:
            text = f"{local:%Y-%m-%d}" if len(years) > 1 else f"{local:%m-%d}"
        elif local.hour == 0 or instant == ticks[0]:
            text = f"{local:%m-%d %H:%M}"
        else:
            text = f"{local:%H:%M}"
        tx = x(instant)
        parts.append(
            f'<line class="axis" x1="{tx:.1f}" x2="{tx:.1f}" y1="{axis_y}" y2="{axis_y + 4}" '
            f'stroke="#9ca3af"/><text x="{tx:.1f}" y="{axis_y + 18}" text-anchor="middle">'
            f"{escape(text)}</text>"
        )
    return parts
