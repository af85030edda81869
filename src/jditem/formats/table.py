"""The product table every writer shares: its columns, their types, and the id tie.

Every row starts with ``requested_id`` (the id the input asked for) and ``id_mismatch``
(true when the product's own ``sku_id`` differs: JD redirected the item, or the server
answered for another one), then the flattened core fields (``Product.flat()``), with a
fixed column set so every file of every job, CLI or console, has the same header.

Types (Parquet and Excel cells): prices and weight are decimals, counts integers,
flags booleans, ``fetched_at`` a UTC time; everything else is text — ids included, so
a spreadsheet never turns ``100012043978`` into ``1.00012E+11``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from jditem.protocol.product import FLAT_COLUMNS, Product

#: Columns before the product's own in every format.
TIE_COLUMNS = ("requested_id", "id_mismatch")
#: Every column of the table, in order.
COLUMNS: tuple[str, ...] = (*TIE_COLUMNS, *FLAT_COLUMNS)
#: Decimal columns (yuan, kg): 18 digits, 4 after the point in Parquet.
DECIMAL_COLUMNS = frozenset(
    {"price_current", "price_original", "price_promo", "price_discount", "weight_kg"}
)
BOOL_COLUMNS = frozenset(
    {
        "id_mismatch",
        "is_self_operated",
        "price_masked",
        "in_stock",
        "on_sale",
        "is_seven_day_return",
        "sandbox",
    }
)
INT_COLUMNS = frozenset({"stock_state", "image_count", "promotion_count"})
TIME_COLUMNS = frozenset({"fetched_at"})
_QUANTUM = Decimal("0.0001")


def columns() -> list[str]:
    """The table's columns: ``requested_id``, ``id_mismatch``, then the flattened core
    fields of :class:`Product`."""
    return list(COLUMNS)


def typed(name: str, value: Any) -> Any:
    """``value`` of column ``name`` as its type (``Decimal``, ``bool``, ``int``, an
    aware UTC ``datetime``, or ``str``); ``None`` when empty or unreadable."""
    if value is None or value == "":
        return None
    try:
        if name in DECIMAL_COLUMNS:
            return Decimal(str(value)).quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)
        if name in BOOL_COLUMNS:
            return value if isinstance(value, bool) else None
        if name in INT_COLUMNS:
            return int(value) if not isinstance(value, bool) else None
        if name in TIME_COLUMNS:
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
            return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (InvalidOperation, ValueError, TypeError):
        return None
    return value if isinstance(value, str) else str(value)


class Tie:
    """Ties each row to the id that was asked for, counting the rows whose product
    carries another id (and keeping the first few as examples)."""

    def __init__(self) -> None:
        self.mismatches = 0
        self.examples: list[tuple[str, str]] = []

    def __call__(self, requested_id: str | None, sku_id: str) -> tuple[str, bool]:
        """``(requested id, mismatch)`` for a product with ``sku_id`` asked for as
        ``requested_id`` (default: its own id)."""
        requested = sku_id if requested_id is None else requested_id
        mismatch = requested != sku_id
        if mismatch:
            self.mismatches += 1
            if len(self.examples) < 5:
                self.examples.append((requested, sku_id))
        return requested, mismatch

    def row(self, product: Product, requested_id: str | None = None) -> dict[str, Any]:
        """The table row of ``product``: every column of :data:`COLUMNS`, values as
        ``Product.flat()`` gives them (text, numbers, booleans or ``None``)."""
        flat = product.flat()
        requested, mismatch = self(requested_id, str(flat["sku_id"]))
        return {"requested_id": requested, "id_mismatch": mismatch, **flat}
