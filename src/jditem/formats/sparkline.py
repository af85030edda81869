"""A price history as steps in time, and as a one-line terminal sparkline (``jditem history``).

Standard library only (shared by the CLI and the server's console chart). Input is any
sequence of change points with ``valid_from``, ``price_current``, ``price_masked``,
``price_promo``, ``price_original`` and ``in_stock`` —
:class:`jditem.protocol.monitoring.ChangePoint` (what ``client.history`` returns) has
them — oldest first.

**Step semantics**: a point's state holds from its ``valid_from`` until the next
point's (the last one until ``end``), as Keepa draws prices: history keeps change
points, not samples. :func:`steps` turns points into such spans. **Gaps**: a span whose
current price is masked (or absent) has no price (``None``): drawn as a blank, never
joined to its neighbours. JD keeps the promo and list prices readable while it masks the
current one (SPEC §3), so those series (``promo``, ``original``) often fill a gap.

:func:`sparkline` samples one series of the spans (the current price by default) into
``width`` columns over ``[start, end)``: a column shows the lowest price shown during it
(a dip shorter than a column still shows), blank when no price was shown during it;
eight levels from the lowest to the highest price drawn, in Unicode blocks
(``▁▂▃▄▅▆▇█``) or, with ``ascii=True``, in ``_.-~=+*#``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

__all__ = [
    "ASCII_LEVELS",
    "GAP",
    "UNICODE_LEVELS",
    "PricedPoint",
    "Series",
    "Span",
    "sparkline",
    "steps",
]

#: A price series of a span: the current price, the promo price, the list price.
Series = Literal["current", "promo", "original"]

UNICODE_LEVELS = "▁▂▃▄▅▆▇█"
ASCII_LEVELS = "_.-~=+*#"
#: A column in which no price was shown.
GAP = " "


class PricedPoint(Protocol):
    """What :func:`steps` reads from a change point."""

    @property
    def valid_from(self) -> datetime: ...

    @property
    def price_current(self) -> Decimal | None: ...

    @property
    def price_masked(self) -> bool: ...

    @property
    def price_promo(self) -> Decimal | None: ...

    @property
    def price_original(self) -> Decimal | None: ...

    @property
    def in_stock(self) -> bool | None: ...


@dataclass(frozen=True, slots=True)
class Span:
    """One state in time, ``[start, end)``: its prices (``None``: not shown) and stock."""

    start: datetime
    end: datetime
    price: Decimal | None
    """The current price; ``None`` while masked or absent."""
    in_stock: bool | None
    masked: bool
    promo: Decimal | None = None
    original: Decimal | None = None

    def series(self, name: Series) -> Decimal | None:
        """The value of one series: ``current`` (:attr:`price`), ``promo`` or ``original``."""
        return self.price if name == "current" else self.promo if name == "promo" else self.original


def steps(points: Sequence[PricedPoint], end: datetime) -> list[Span]:
    """The points as consecutive spans up to ``end`` (points from ``end`` on are left out).

    Raises :class:`ValueError` when the points are not oldest first.
    """
    spans: list[Span] = []
    for index, point in enumerate(points):
        start = point.valid_from
        if start >= end:
            break
        until = points[index + 1].valid_from if index + 1 < len(points) else end
        if until < start:
            raise ValueError("change points must be ordered oldest first (by valid_from)")
        price = None if point.price_masked else point.price_current
        spans.append(
            Span(
                start,
                min(until, end),
                price,
                point.in_stock,
                point.price_masked,
                point.price_promo,
                point.price_original,
            )
        )
    return spans


def sparkline(
    points: Sequence[PricedPoint],
    end: datetime,
    *,
    start: datetime | None = None,
    width: int = 40,
    ascii: bool = False,
    series: Series = "current",
) -> str:
    """A ``width``-character line of one price series over ``[start, end)`` (see the module).

    ``start`` defaults to the first point's ``valid_from``; pass ``end`` (e.g. now, or the
    last point's ``last_confirmed_at``). No points or no time: an empty string.
    """
    if width < 1:
        raise ValueError(f"a sparkline needs a width of at least 1, got {width!r}")
    spans = steps(points, end)
    if not spans:
        return ""
    begin = spans[0].start if start is None else start
    total = (end - begin).total_seconds()
    if total <= 0:
        return ""
    columns: list[Decimal | None] = [None] * width
    for span in spans:
        price = span.series(series)
        if price is None or span.end <= begin:
            continue
        first = int((max(span.start, begin) - begin).total_seconds() / total * width)
        last = (span.end - begin).total_seconds() / total * width
        stop = min(width, max(first + 1, math.ceil(last)))  # every column it overlaps
        for column in range(first, stop):
            current = columns[column]
            if current is None or price < current:
                columns[column] = price
    shown = [price for price in columns if price is not None]
    if not shown:
        return GAP * width
    low, high = min(shown), max(shown)
    levels = ASCII_LEVELS if ascii else UNICODE_LEVELS
    top = len(levels) - 1
    line = []
    for price in columns:
        if price is None:
            line.append(GAP)
        elif high == low:
            line.append(levels[0])
        else:
            line.append(levels[round((price - low) / (high - low) * top)])
    return "".join(line)
