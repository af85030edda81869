"""Sale days and operational time: windows in China Standard Time, an exact O(1) inverse."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from jditem.server.collectors.saledays import (
    AROUND,
    ON_THE_DAY,
    multiplier,
    operational,
    real_instant,
    sale_window,
    sale_windows,
)

CST = timezone(timedelta(hours=8))


def at(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=CST).timestamp())  # type: ignore[misc]


@pytest.mark.parametrize("year", [2025, 2026, 2028, 2100])
def test_the_windows_are_six_local_days_around_618_and_double_eleven(year: int) -> None:
    assert sale_window(at(year, 6, 14, 23, 59, 59)) is None
    window = sale_window(at(year, 6, 15))
    assert window is not None
    assert window.name == "618"
    assert (window.start, window.end) == (at(year, 6, 15), at(year, 6, 21))
    assert sale_window(at(year, 6, 21)) is None
    eleven = sale_window(at(year, 11, 11, 12))
    assert eleven is not None
    assert eleven.name == "11.11"
    assert (eleven.start, eleven.end) == (at(year, 11, 8), at(year, 11, 14))
    assert multiplier(at(year, 6, 18)) == ON_THE_DAY
    assert multiplier(at(year, 6, 18, 23, 59, 59)) == ON_THE_DAY
    assert multiplier(at(year, 6, 17, 23, 59, 59)) == AROUND
    assert multiplier(at(year, 6, 20, 12)) == AROUND
    assert multiplier(at(year, 3, 1)) == 1
    # midnight in Shanghai, whatever the server's own time zone
    assert multiplier(at(year, 11, 11)) == ON_THE_DAY
    assert multiplier(at(year, 11, 11) - 1) == AROUND


def test_operational_time_runs_at_the_multiplier_of_the_moment() -> None:
    for t in (at(2026, 3, 1), at(2026, 6, 16), at(2026, 6, 18, 8), at(2026, 11, 12)):
        assert operational(t + 3600) - operational(t) == 3600 * multiplier(t)
    year = operational(at(2027, 1, 1)) - operational(at(2026, 1, 1))
    assert year == 365 * 86_400 + 2 * 86_400 * (5 * (AROUND - 1) + ON_THE_DAY - 1)


def test_the_inverse_is_exact_in_whole_seconds() -> None:
    rng = random.Random(20260618)
    for _ in range(20_000):
        t = rng.randrange(-(10**9), 10**11)  # 1938 .. 5138
        s = operational(t)
        assert operational(t + 1) > s
        assert real_instant(s) == t
        target = rng.randrange(-(10**9), 10**11)
        found = real_instant(target)
        assert operational(found) >= target > operational(found - 1)


@pytest.mark.parametrize("year", [1969, 1970, 2024, 2026, 3000])
def test_years_join_without_a_seam(year: int) -> None:
    new_year = at(year, 1, 1)
    assert operational(new_year) - operational(new_year - 1) == 1
    assert real_instant(operational(new_year)) == new_year


def test_sale_windows_lists_those_overlapping_a_range() -> None:
    found = sale_windows(at(2026, 6, 20), at(2026, 11, 8, 0, 0, 1))
    assert [(w.name, w.year) for w in found] == [("618", 2026), ("11.11", 2026)]
    assert sale_windows(at(2026, 6, 21), at(2026, 11, 8)) == []
    assert len(sale_windows(at(2020, 1, 1), at(2030, 1, 1))) == 20
