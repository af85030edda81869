"""The schedule grid of a watched item (pure): spread, stable, once after downtime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jditem.server.monitor.slots import next_slot, offset_seconds, slot_key

NOW = datetime(2026, 12, 7, 3, 0, 0, 123000, tzinfo=UTC)


def test_the_next_slot_is_within_one_interval_and_on_the_item_s_grid() -> None:
    for interval in (60, 300, 3600, 86_400):
        for item in ("1", "100012043978", "99999999999999999999"):
            first = next_slot(NOW, 7, item, interval)
            assert NOW < first <= NOW + timedelta(seconds=interval)
            # from any instant up to it, the same slot; right at it, the one after
            assert next_slot(first - timedelta(milliseconds=1), 7, item, interval) == first
            assert next_slot(first, 7, item, interval) == first + timedelta(seconds=interval)


def test_a_long_outage_gives_one_slot_not_one_per_missed_slot() -> None:
    first = next_slot(NOW, 3, "42", 60)
    later = first + timedelta(days=3, seconds=1)
    resumed = next_slot(later, 3, "42", 60)
    assert later < resumed <= later + timedelta(seconds=60)
    assert (resumed - first).total_seconds() % 60 == 0  # back on the same grid


def test_offsets_spread_a_list_over_its_interval() -> None:
    offsets = [offset_seconds(1, str(100_000_000_000 + n), 3600) for n in range(1000)]
    assert all(0 <= o < 3600 for o in offsets)
    per_quarter = [sum(1 for o in offsets if q * 900 <= o < (q + 1) * 900) for q in range(4)]
    assert min(per_quarter) > 200  # roughly even: no burst at the top of the hour
    assert offset_seconds(1, "5", 3600) == offset_seconds(1, "5", 3600)
    assert offset_seconds(1, "5", 3600) != offset_seconds(2, "5", 3600)


def test_the_slot_key_is_stable_and_a_valid_idempotency_key() -> None:
    due = next_slot(NOW, 9, "100012043978", 300)
    key = slot_key(9, "100012043978", due)
    assert key == slot_key(9, "100012043978", due)
    assert key != slot_key(9, "100012043978", due + timedelta(seconds=300))
    assert key.startswith("watch-9-100012043978-")
    assert len(key) <= 128
    assert key.isascii()
    assert key.isprintable()
