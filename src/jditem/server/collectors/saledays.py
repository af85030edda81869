"""JD's big sale days, and the operational time that makes the sandbox move faster on them.

JD's two big sales are 618 (June 18) and 11.11 (November 11), counted in China Standard
Time (UTC+8; China has kept no daylight saving time since 1991, so a fixed offset is exact
and independent of the server's ``timezone`` setting). Each sale has a *window* of six
local days, from three days before the day to two days after it: June 15 00:00 to June 21
00:00 and November 8 00:00 to November 14 00:00. Inside a window the sandbox's changes come
faster: ×4 on the days around the sale day, ×12 on the day itself.

The speed-up is a time warp. *Operational time* ``Λ(t)`` advances at the multiplier of the
moment (1 on ordinary days, 4 or 12 in a window): a process that is homogeneous in
operational time is that much busier on sale days in real time. The windows are the same
every year, so ``Λ`` and its inverse are closed forms: mapping an instant either way costs
O(1) whatever its distance from the epoch. All times here are whole seconds since the Unix
epoch, ``Λ(0) = 0``, and ``Λ`` maps whole seconds to whole seconds (the multipliers are
integers).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "SaleWindow",
    "multiplier",
    "operational",
    "real_instant",
    "sale_window",
    "sale_windows",
]

DAY = 86_400
#: China Standard Time, the clock of JD's sale days.
CST_OFFSET = 8 * 3600
#: The sales: (name, month, day).
SALES = (("618", 6, 18), ("11.11", 11, 11))
#: Window: this many local days before the sale day, and after it.
DAYS_BEFORE, DAYS_AFTER = 3, 2
#: Operational-time multipliers: around the sale day, and on the day itself.
AROUND, ON_THE_DAY = 4, 12
#: Extra operational seconds a year gains from its windows (the same every year).
EXTRA_PER_YEAR = len(SALES) * DAY * ((DAYS_BEFORE + DAYS_AFTER) * (AROUND - 1) + ON_THE_DAY - 1)
#: The mean Gregorian year in seconds (for first guesses only; every guess is corrected).
_MEAN_YEAR = 31_556_952


@dataclass(frozen=True)
class SaleWindow:
    """One sale's window in one year; times in epoch seconds, ``end`` exclusive."""

    name: str
    year: int
    start: int
    end: int
    day_start: int
    day_end: int


@dataclass(frozen=True)
class _Year:
    number: int
    start: int  # epoch seconds of January 1, 00:00 CST
    op_start: int  # Λ(start)
    windows: tuple[SaleWindow, ...]
    pieces: tuple[tuple[int, int, int], ...]  # (start, end, multiplier), sorted, disjoint


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to the given proleptic Gregorian date (any year)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def _local_midnight(year: int, month: int, day: int) -> int:
    return _days_from_civil(year, month, day) * DAY - CST_OFFSET


@lru_cache(maxsize=1024)
def _year(year: int) -> _Year:
    windows = []
    pieces = []
    for name, month, day in SALES:
        day_start = _local_midnight(year, month, day)
        window = SaleWindow(
            name=name,
            year=year,
            start=day_start - DAYS_BEFORE * DAY,
            end=day_start + (DAYS_AFTER + 1) * DAY,
            day_start=day_start,
            day_end=day_start + DAY,
        )
        windows.append(window)
        pieces += [
            (window.start, day_start, AROUND),
            (day_start, window.day_end, ON_THE_DAY),
            (window.day_end, window.end, AROUND),
        ]
    start = _local_midnight(year, 1, 1)
    op_start = start + (year - 1970) * EXTRA_PER_YEAR
    return _Year(year, start, op_start, tuple(windows), tuple(pieces))


def _year_of(t: int) -> _Year:
    """The CST calendar year holding instant ``t``."""
    year = 1970 + (t + CST_OFFSET) // _MEAN_YEAR
    while _year(year).start > t:
        year -= 1
    while _year(year + 1).start <= t:
        year += 1
    return _year(year)


def operational(t: int) -> int:
    """``Λ(t)``: the operational time of instant ``t`` (strictly increasing)."""
    year = _year_of(t)
    s = year.op_start + (t - year.start)
    for start, end, mult in year.pieces:
        if t <= start:
            break
        s += (min(t, end) - start) * (mult - 1)
    return s


def real_instant(s: int) -> int:
    """The first whole second ``T`` with ``Λ(T) >= s`` (the inverse of :func:`operational`)."""
    guess = 1970 + s // (_MEAN_YEAR + EXTRA_PER_YEAR)
    while _year(guess).op_start > s:
        guess -= 1
    while _year(guess + 1).op_start <= s:
        guess += 1
    year = _year(guess)
    t, op = year.start, year.op_start
    for start, end, mult in year.pieces:
        if s <= op + (start - t):
            return t + (s - op)
        op += start - t
        t = start
        if s <= op + (end - start) * mult:
            return t - (op - s) // mult  # t + ceil((s - op) / mult)
        op += (end - start) * mult
        t = end
    return t + (s - op)


def sale_window(t: int) -> SaleWindow | None:
    """The sale window holding instant ``t``, or ``None`` on an ordinary day."""
    for window in _year_of(t).windows:
        if window.start <= t < window.end:
            return window
    return None


def multiplier(t: int) -> int:
    """How much faster the sandbox changes at ``t`` than on an ordinary day (1, 4 or 12)."""
    window = sale_window(t)
    if window is None:
        return 1
    return ON_THE_DAY if window.day_start <= t < window.day_end else AROUND


def sale_windows(start: int, end: int) -> list[SaleWindow]:
    """The sale windows overlapping ``[start, end)``, in time order."""
    found = []
    for year in range(_year_of(start).number, _year_of(max(start, end - 1)).number + 1):
        found += [w for w in _year(year).windows if w.start < end and w.end > start]
    return found
