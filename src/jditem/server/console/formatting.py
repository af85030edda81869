"""Jinja filters: money in minor units, local times, code labels. Pure functions."""

from __future__ import annotations

from datetime import datetime, tzinfo
from decimal import Decimal

from jditem.protocol.codes import Code
from jditem.server.clock import as_utc

#: Code groups used by the trend charts (label, CSS class) in display order.
CODE_GROUPS: tuple[tuple[str, str], ...] = (
    ("success", "g-success"),
    ("pending", "g-pending"),
    ("not supported", "g-drop"),
    ("rejected", "g-reject"),
    ("failed", "g-fail"),
)


def code_group(code: int) -> str:
    """The trend-chart group of a business code."""
    if code == 0:
        return "success"
    if code == 102:
        return "pending"
    if code in (202, 400, 404):
        return "not supported"
    if code in (301, 500):
        return "failed"
    return "rejected"


def money(units: int | None) -> str:
    """``12345`` → ``"¥1.2345"``; ``None`` → ``"—"``. Exact (Decimal), never float."""
    if units is None:
        return "—"
    return f"¥{Decimal(units).scaleb(-4):,.4f}"


def yuan(units: int | None) -> str:
    """Units as a plain yuan string for form fields (``15000`` → ``"1.5000"``)."""
    return "" if units is None else f"{Decimal(units).scaleb(-4):.4f}"


def local_time(value: datetime | str | None, tz: tzinfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A time shown in the console's time zone (the server's ``timezone``): an aware
    datetime, a naive one taken as UTC (a raw SQLite read), or ISO-8601 text with an
    offset (the summaries the JSON outputs share, made by
    :func:`~jditem.server.clock.iso_local`)."""
    if value is None or value == "":
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return as_utc(moment).astimezone(tz).strftime(fmt)


def code_label(code: int) -> str:
    """``302`` → ``"302 rate limit exceeded"``."""
    member = Code.lookup(code)
    return f"{code} {member.default_message}" if member is not None else str(code)


def number(value: int | float | None) -> str:
    """Thousands separators; ``None`` → ``"—"``."""
    if value is None:
        return "—"
    return f"{value:,}"


def interval(seconds: int) -> str:
    """A schedule interval for people: ``"every 1 h 30 min"``, ``"every 2 d"``, ``"every 45 s"``."""
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}")
    return "every " + " ".join(parts or ["0 s"])
