"""Time helpers: an injectable clock and UTC normalisation for database values.

Every stored time is UTC: columns and bound parameters use
:class:`jditem.server.store.types.UtcDateTime`, which converts on the way in and hands
back aware UTC values. Times read on a raw DBAPI cursor (SQLite gives text without a
zone) go through :func:`db_time`; :func:`as_utc` normalises any other value.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

#: A clock returns "now" as a timezone-aware datetime. Tests inject a fake one.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock: the current time in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def db_time(value: datetime | str) -> datetime:
    """A time read on a DBAPI cursor (SQLite gives text, PostgreSQL a datetime) as UTC."""
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def now_utc(clock: Clock) -> datetime:
    """Call ``clock`` and normalise its answer to aware UTC."""
    return as_utc(clock())


def iso_local(value: datetime, timezone: str, timespec: str = "milliseconds") -> str:
    """ISO-8601 with offset in ``timezone`` (SPEC §2.1 style; ``timespec`` as for
    :meth:`datetime.isoformat`): how every time leaves the server as text — envelopes,
    JSON listings, the admin CLI (the console formats the same zone for people)."""
    return as_utc(value).astimezone(ZoneInfo(timezone)).isoformat(timespec=timespec)


#: Per time zone: (a whole second since the epoch, the text before and after its
#: milliseconds in :func:`record_time`) — the last second formatted, reused until the next.
_record_seconds: dict[str, tuple[float, str, str]] = {}


def record_time(value: datetime, timezone: str) -> str:
    """``iso_local(value, timezone)`` to the millisecond (an envelope's ``recordTime``),
    the date, time and offset formatted once per second and zone: a server answering
    thousands of calls a second formats the same second over and over.

    The cache is keyed by the second since the epoch (naive values are UTC, as for
    :func:`as_utc`; ``timestamp()`` divides whole microseconds by 10**6, correctly
    rounded, so its floor is the value's second until the year 2242), and a zone's
    offset changes only at whole seconds, so the text is exactly :func:`iso_local`'s.
    """
    utc = value if value.tzinfo is UTC else as_utc(value)
    second = utc.timestamp() // 1
    cached = _record_seconds.get(timezone)
    if cached is None or cached[0] != second:
        text = iso_local(utc.replace(microsecond=0), timezone, "seconds")
        cached = _record_seconds[timezone] = (second, text[:19], text[19:])
    return f"{cached[1]}.{utc.microsecond // 1000:03d}{cached[2]}"


def day_start_utc(day: date, tz: ZoneInfo) -> datetime:
    """Local midnight of ``day`` in ``tz`` as an aware UTC datetime — how a local day's
    bounds are compared with stored times (UTC; SQLite compares the text, which drops
    any offset)."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)
