"""An item's history (``client.history``) as a file: CSV, JSON Lines or Parquet.

One row per change point, oldest first, in :data:`HISTORY_COLUMNS` (the SPEC §6.1 tracked
fields under their snake_case names, after the item id and the point's times). Times are
ISO-8601 with their offset (Parquet: UTC timestamps); prices are exact decimals (JSON
Lines: decimal strings, as on the wire; Parquet: ``decimal128(18, 4)``); the promotion
texts are a list (CSV: joined with `` | ``). CSV cells are spreadsheet-safe
(:mod:`.cells`); every file appears whole or not at all, readable by its owner only
(:class:`.files.PendingFile`). The format is chosen by the file's extension
(:func:`format_for`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jditem.formats.cells import csv_line
from jditem.formats.files import PendingFile
from jditem.formats.writers import FormatUnavailable
from jditem.protocol.monitoring import TRACKED_FIELDS, ChangePoint, ItemHistory

__all__ = ["HISTORY_COLUMNS", "HISTORY_FORMATS", "format_for", "history_rows", "write_history"]

HISTORY_COLUMNS = ("item_id", "valid_from", "last_confirmed_at", *TRACKED_FIELDS)
#: File extensions and the format each one writes.
HISTORY_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
_PRICES = ("price_current", "price_original", "price_promo")
_PARQUET_MISSING = (
    "Parquet output needs pyarrow: pip install 'jditem[parquet]', or write .csv / .jsonl"
)


def format_for(path: Path) -> str:
    """``csv``, ``jsonl`` or ``parquet`` from ``path``'s extension; ``ValueError`` otherwise."""
    found = HISTORY_FORMATS.get(path.suffix.lower())
    if found is None:
        raise ValueError(
            f"cannot tell the format of {path.name!r} from its extension: name the file "
            f"*.csv, *.jsonl or *.parquet"
        )
    return found


def history_rows(history: ItemHistory) -> list[dict[str, Any]]:
    """The points as rows of :data:`HISTORY_COLUMNS` (Python values: Decimal, datetime)."""
    return [_row(history.item_id, point) for point in history.points]


def _row(item_id: str, point: ChangePoint) -> dict[str, Any]:
    row: dict[str, Any] = {"item_id": item_id}
    for name in HISTORY_COLUMNS[1:]:
        row[name] = getattr(point, name)
    return row


def write_history(path: Path, history: ItemHistory) -> int:
    """Write ``history`` to ``path`` in the format of its extension; returns the rows.

    Raises ``ValueError`` for an unknown extension and :class:`FormatUnavailable` when
    Parquet is asked for without pyarrow — before anything is written.
    """
    kind = format_for(path)
    writer: Callable[[Path, list[dict[str, Any]]], None] = {
        "csv": _write_csv,
        "jsonl": _write_jsonl,
        "parquet": _write_parquet,
    }[kind]
    if kind == "parquet":
        _need_pyarrow()
    rows = history_rows(history)
    pending = PendingFile(path)
    try:
        writer(pending.path, rows)
        pending.commit()
    finally:
        pending.discard()
    return len(rows)


def _text(name: str, value: Any) -> Any:
    """A cell as text or JSON: times ISO-8601, prices as decimal strings."""
    if value is None or isinstance(value, bool | int | list):
        return value
    if name in _PRICES:
        return format(value, "f")
    if name in ("valid_from", "last_confirmed_at"):
        return value.isoformat()
    return value


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(csv_line(HISTORY_COLUMNS))
        for row in rows:
            cells = [_text(name, row[name]) for name in HISTORY_COLUMNS]
            texts = HISTORY_COLUMNS.index("promotion_texts")
            cells[texts] = " | ".join(row["promotion_texts"])
            out.write(csv_line(cells))


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            shown = {name: _text(name, row[name]) for name in HISTORY_COLUMNS}
            out.write(json.dumps(shown, ensure_ascii=False, separators=(",", ":")) + "\n")


def _need_pyarrow() -> None:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError as exc:
        raise FormatUnavailable(_PARQUET_MISSING) from exc


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    kinds = {
        "item_id": pa.string(),
        "valid_from": pa.timestamp("us", tz="UTC"),
        "last_confirmed_at": pa.timestamp("us", tz="UTC"),
        "price_masked": pa.bool_(),
        "in_stock": pa.bool_(),
        "stock_state": pa.int64(),
        "on_sale": pa.bool_(),
        "promotion_texts": pa.list_(pa.string()),
        **dict.fromkeys(_PRICES, pa.decimal128(18, 4)),
    }
    schema = pa.schema([pa.field(name, kinds.get(name, pa.string())) for name in HISTORY_COLUMNS])
    data = {name: [row[name] for row in rows] for name in HISTORY_COLUMNS}
    pq.write_table(pa.table(data, schema=schema), str(path))
