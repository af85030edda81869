"""Daily quota boundary (SPEC §2.4 step 5) with a frozen clock injected into create_app:
the quota day is the local calendar day of ``Settings.timezone``; the last millisecond
of a day still counts against it, the first millisecond of the next day starts afresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.support.clock import FrozenClock
from tests.support.live_server import live_server

# once per store profile (tests/conftest.py: backend)
pytestmark = pytest.mark.usefixtures("backend")

ITEM = "100012043978"


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "UTC"])
def test_quota_resets_at_local_midnight(tz: str) -> None:
    zone = ZoneInfo(tz)
    last_ms = datetime(2026, 11, 28, 23, 59, 59, 999_000, tzinfo=zone)
    clock = FrozenClock(last_ms.astimezone(UTC))
    with live_server(clock=clock, timezone=tz) as live:
        token = live.make_token("q", daily_quota=2)
        codes = [live.get(ITEM, token).json()["code"] for _ in range(2)]
        assert codes[-1] == 0
        assert all(c in (0, 102) for c in codes)
        body = live.get(ITEM, token).json()
        assert body["code"] == 303
        reset = datetime.fromisoformat(body["data"]["resetAt"])
        assert reset == last_ms + timedelta(milliseconds=1)
        assert reset.utcoffset() == last_ms.utcoffset()
        assert body["recordTime"].startswith("2026-11-28T23:59:59.999")

        clock.set((last_ms + timedelta(milliseconds=1)).astimezone(UTC))
        body = live.get(ITEM, token).json()
        assert body["code"] == 0, body
        assert body["recordTime"].startswith("2026-11-29T00:00:00.000")
        days = live.rows("SELECT day, count FROM quota_counters ORDER BY day")
        assert days == [("2026-11-28", 2), ("2026-11-29", 1)]
