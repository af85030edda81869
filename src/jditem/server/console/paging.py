"""Pagination and filter parsing shared by the list pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.server.clock import day_start_utc

PAGE_SIZE = 50
#: Counting stops here, so a filter matching a million rows stays fast ("10,000+").
COUNT_CAP = 10_000


@dataclass(frozen=True)
class Page:
    """One page of a filtered list: numbers for the pager and the query for links."""

    number: int
    size: int
    total: int
    capped: bool
    query: dict[str, str]

    @property
    def offset(self) -> int:
        """Rows to skip."""
        return (self.number - 1) * self.size

    @property
    def last(self) -> int:
        """The last page number we know of."""
        return max(1, -(-self.total // self.size))

    @property
    def has_next(self) -> bool:
        """Whether a next page exists."""
        return self.capped or self.number < self.last

    def link(self, number: int) -> str:
        """The query string of page ``number`` with the same filters."""
        return "?" + urlencode({**self.query, "page": str(number)})

    def export_query(self) -> str:
        """The filters as a query string (for the CSV export link)."""
        return urlencode(self.query)


#: Highest page number honoured (past it a list is simply empty).
MAX_PAGE = 10**6
#: Dates accepted in filters (outside, time-zone arithmetic would overflow).
MIN_DAY = date(1970, 1, 1)
MAX_DAY = date(9000, 12, 31)
#: Largest integer a filter may compare with (the database's signed 64-bit range).
MAX_FILTER_INT = 2**63 - 1
#: Largest id of an ``Integer`` primary key (PostgreSQL's ``integer`` is 32-bit: a larger
#: value would not even be accepted as a query parameter).
MAX_ID = 2**31 - 1


def page_number(raw: str | None) -> int:
    """A 1-based page number from the query string (bad values → 1; huge → an empty page)."""
    text = (raw or "1").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        return 1 if not (text.isascii() and text.isdigit()) else MAX_PAGE
    return min(MAX_PAGE, max(1, int(text)))


def parse_int(
    raw: str, field: str, example: str, *, signed: bool = False, most: int = MAX_FILTER_INT
) -> int:
    """An integer filter value in the database's range (at most ``most``; use
    :data:`MAX_ID` for ids); ``ValueError`` names the field."""
    digits = raw[1:] if signed and raw.startswith("-") else raw
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 19:
        raise ValueError(f"{field} must be a number such as {example}, not {raw!r}")
    value = int(raw)
    if abs(value) > most:
        raise ValueError(f"{field} is out of range: {raw!r}")
    return value


async def count_capped(db: AsyncSession, query: Select[Any]) -> tuple[int, bool]:
    """Count rows of ``query`` up to :data:`COUNT_CAP` (returns the count and whether it hit it)."""
    limited = query.limit(COUNT_CAP + 1).subquery()
    total = (await db.execute(select(func.count()).select_from(limited))).scalar_one()
    return min(total, COUNT_CAP), total > COUNT_CAP


def parse_day(raw: str | None, field: str) -> date | None:
    """A ``YYYY-MM-DD`` filter value; raise ``ValueError`` with a readable message."""
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{field} must be a date like 2026-11-28, not {raw!r}") from None
    if not MIN_DAY <= day <= MAX_DAY:
        raise ValueError(f"{field} must be between {MIN_DAY} and {MAX_DAY}, not {raw!r}")
    return day


def day_range_utc(
    start: date | None, end: date | None, tz: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """Inclusive local dates → half-open UTC range ``[from, to)``."""
    lo = day_start_utc(start, tz) if start else None
    hi = day_start_utc(end + timedelta(days=1), tz) if end else None
    return lo, hi
