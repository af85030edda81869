"""``price_history``'s pure parts: the ``since`` a model may give, and the lowest, highest
and latest known price worked out of the change points (a masked price is unknown)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from jditem import errors
from jditem.mcp.history_tool import history_body, history_summary, parse_since
from jditem.protocol.monitoring import ChangePoint, ItemHistory

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("", None),
        ("  ", None),
        ("30d", (NOW - timedelta(days=30)).isoformat()),
        ("12H", (NOW - timedelta(hours=12)).isoformat()),
        ("2 w", (NOW - timedelta(weeks=2)).isoformat()),
        ("2026-11-01", "2026-11-01"),
        ("2026-11-01T08:00:00+08:00", "2026-11-01T08:00:00+08:00"),
        ("2026-11-01T08:00:00Z", "2026-11-01T08:00:00Z"),
    ],
)
def test_since_is_a_window_back_from_now_or_an_iso_time(given: str, sent: str | None) -> None:
    assert parse_since(given, NOW) == sent


@pytest.mark.parametrize("given", ["last month", "30", "-3d", "2026-13-01", "yesterday"])
def test_anything_else_says_what_to_give(given: str) -> None:
    with pytest.raises(errors.ConfigurationError, match="30d, 12h or 2w") as caught:
        parse_since(given, NOW)
    assert "2026-11-01" in caught.value.message


def point(day: int, price: str | None, *, masked: bool = False) -> ChangePoint:
    start = datetime(2026, 11, day, tzinfo=UTC)
    return ChangePoint(
        valid_from=start,
        last_confirmed_at=start + timedelta(hours=5),
        price_current=Decimal(price) if price is not None else None,
        price_original=Decimal("299.00"),
        price_masked=masked,
        in_stock=True,
    )


def test_lowest_highest_and_latest_skip_masked_prices() -> None:
    history = ItemHistory(
        item_id="100012043978",
        points=[
            point(1, "249.00"),
            point(3, "199.00"),
            point(5, None, masked=True),
            point(7, "219.50"),
        ],
    )
    body = history_body(history, "2026-11-01")
    assert body["change_points"] == 4
    assert body["lowest"] == {"price": "199.00", "from": "2026-11-03T00:00:00+00:00"}
    assert body["highest"] == {"price": "249.00", "from": "2026-11-01T00:00:00+00:00"}
    assert body["latest_known_price"] == "219.50"
    assert body["points"][2]["price"] is None
    assert body["points"][2]["price_masked"] is True
    summary = history_summary(body)
    assert summary.startswith("Item 100012043978 since 2026-11-01: 4 change point(s); latest")
    assert "latest 219.50 yuan (list price 299.00 yuan), in stock" in summary
    assert "lowest 199.00 yuan (from 2026-11-03T00:00:00+00:00)" in summary


def test_a_cut_off_history_says_so() -> None:
    history = ItemHistory(item_id="1", points=[point(2, "10.00")], has_more=True)
    assert "Older points were left out (raise limit)." in history_summary(
        history_body(history, None)
    )
