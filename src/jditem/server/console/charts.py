"""Inline SVG charts (no JavaScript, no chart library): stacked bars."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

#: Colours for series without a CSS class (e.g. one per token on the spending page).
PALETTE = (
    "#2563eb",
    "#16a34a",
    "#d97706",
    "#9333ea",
    "#0891b2",
    "#dc2626",
    "#4b5563",
    "#db2777",
    "#65a30d",
    "#0d9488",
)


@dataclass(frozen=True)
class Series:
    """One stacked series: a name, a CSS class or a colour, and one value per column."""

    name: str
    values: Sequence[int]
    css_class: str = ""
    color: str = ""


def _nice_max(value: int) -> int:
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover - loop always returns


def stacked_bars(
    columns: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    fmt: Callable[[int], str] = lambda v: f"{v:,}",
    width: int = 960,
    height: int = 260,
) -> Markup:
    """A stacked bar chart as an ``<svg>`` element; each bar has a hover ``<title>``."""
    left, right, top, bottom = 70, 10, 10, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s.values[i] for s in series) for i in range(len(columns))]
    vmax = max(_nice_max(max(totals, default=0)), 4)  # at least 4: integer ticks
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for tick in range(5):
        value = vmax * tick // 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(
            f'<line class="axis" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>'
        )
    n = max(len(columns), 1)
    slot = plot_w / n
    bar_w = max(slot * 0.8, 1.0)
    label_every = max(1, n // 12)
    for i, column in enumerate(columns):
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_h * value / vmax
            y -= h
            paint = f' class="{s.css_class}"' if s.css_class else f' fill="{s.color}"'
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}"{paint}>'
                f"<title>{escape(column)} · {escape(s.name)}: {escape(fmt(value))}</title></rect>"
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 16}" '
                f'text-anchor="middle">{escape(column)}</text>'
            )
    if not columns:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">No data yet</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text part above is escaped


def legend(series: Sequence[Series]) -> Markup:
    """A legend matching :func:`stacked_bars` colours."""
    items = []
    for s in series:
        paint = f' class="{s.css_class}"' if s.css_class else f' style="color:{s.color}"'
        items.append(f"<span{paint}>{escape(s.name)}</span>")
    return Markup(f'<div class="legend">{"".join(items)}</div>')  # noqa: S704 - names escaped
