"""The product's flat form (``Product.flat`` / ``flatten``): the export columns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jditem.protocol import Product
from jditem.protocol.product import FLAT_COLUMNS, flatten


def test_flat_columns_order_and_values(sample: Product) -> None:
    row = sample.flat()
    assert tuple(row) == FLAT_COLUMNS
    assert row["category_ids"] == "1316,1381,1396"
    assert row["price_original"] == "1390.00"
    assert row["price_promo"] == "699.00"
    assert row["price_current"] is None
    assert row["price_masked"] is True
    assert row["stock_state"] == 33
    assert row["is_self_operated"] is True
    assert row["weight_kg"] == "0.610"
    assert row["dimensions_mm"] == "194x105x66"
    assert row["upc"] == "1001172195159"
    assert row["sandbox"] is False
    assert all(value is None or isinstance(value, str | int | bool) for value in row.values())


def test_flat_fetched_at_is_iso(data: dict[str, Any]) -> None:
    when = datetime(2026, 11, 28, 2, 15, 30, tzinfo=UTC)
    assert (
        flatten(Product.from_payload(data, fetched_at=when))["fetched_at"]
        == "2026-11-28T02:15:30+00:00"
    )
