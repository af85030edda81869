"""``record_time`` (an envelope's ``recordTime``, cached per second) is ``iso_local``'s text."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from jditem.server.clock import iso_local, record_time

ZONES = ["Asia/Shanghai", "UTC", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]


@pytest.mark.parametrize("zone", ZONES)
def test_record_time_is_iso_local_to_the_millisecond(zone: str) -> None:
    rng = random.Random(22)
    start = datetime(2026, 3, 8, 6, 59, 58, tzinfo=UTC)  # New York's spring-forward at 07:00 UTC
    instants = [start + timedelta(microseconds=rng.randrange(4_000_000)) for _ in range(300)]
    instants += [  # and New York's fall-back hour, both folds
        datetime(2026, 11, 1, 5, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 11, 1, 6, 0, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 1, 6, 0, 0, 999, tzinfo=UTC),
    ]
    for value in sorted(instants) + instants:  # in order (cache hits) and shuffled
        assert record_time(value, zone) == iso_local(value, zone)


def test_naive_and_other_zones_are_the_same_instant() -> None:
    utc = datetime(2026, 12, 6, 15, 0, 1, 234_567, tzinfo=UTC)
    naive = utc.replace(tzinfo=None)  # taken as UTC
    shifted = utc.astimezone(timezone(timedelta(hours=-5)))
    for value in (utc, naive, shifted, utc):
        assert record_time(value, "Asia/Shanghai") == "2026-12-06T23:00:01.234+08:00"


def test_seconds_before_the_epoch_and_far_ahead() -> None:
    for value in (
        datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC),
        datetime(2199, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2200, 1, 1, 0, 0, 0, 0, tzinfo=UTC),
    ):
        assert record_time(value, "Asia/Shanghai") == iso_local(value, "Asia/Shanghai")
