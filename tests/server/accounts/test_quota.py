"""Quota days and reset times in a time zone (no reset job: the day is the key)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from jditem.server.accounts.quota import local_day, next_reset


def test_local_day_follows_the_zone() -> None:
    instant = datetime(2026, 11, 28, 16, 30, tzinfo=UTC)  # 00:30 next day in Shanghai
    assert local_day(instant, "Asia/Shanghai") == "2026-11-29"
    assert local_day(instant, "UTC") == "2026-11-28"


def test_next_reset_is_next_local_midnight() -> None:
    instant = datetime(2026, 11, 28, 15, 59, 59, 999_000, tzinfo=UTC)  # 23:59:59.999 +08
    reset = next_reset(instant, "Asia/Shanghai")
    assert reset.isoformat() == "2026-11-29T00:00:00+08:00"


def test_next_reset_across_a_dst_change() -> None:
    zone = ZoneInfo("America/New_York")
    instant = datetime(2026, 3, 7, 23, 0, tzinfo=zone)  # DST starts 2026-03-08
    assert next_reset(instant, "America/New_York").isoformat() == "2026-03-08T00:00:00-05:00"
    later = datetime(2026, 3, 8, 12, 0, tzinfo=zone)
    assert next_reset(later, "America/New_York").isoformat() == "2026-03-09T00:00:00-04:00"
