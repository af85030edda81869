"""Writing products as they arrive: JSON Lines, CSV or Parquet.

Every row starts with ``requested_id`` (the id the input asked for) and ``id_mismatch``
(true when the product's own ``sku_id`` differs: JD redirected the item, or the server
answered for another one); each writer counts those rows in :attr:`RowWriter.mismatches`
so the caller can warn.

JSON Lines holds the normalized product; its bulky ``raw`` payload only with
``raw=True`` (like ``jditem get --json``, which leaves it out too). CSV and Parquet hold
the flattened core fields (``Product.flat()``), with a fixed column set so every file of
every job has the same header; Parquet columns are typed (prices decimal, counts
integers, ``fetched_at`` a UTC timestamp).
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, Literal, Protocol

from jditem.protocol.product import Product

Format = Literal["jsonl", "csv", "parquet"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv", "parquet")
_SUFFIXES: dict[str, Format] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
#: Columns before the product's own in every format.
TIE_COLUMNS = ("requested_id", "id_mismatch")
#: Parquet decimal columns (yuan, kg): 18 digits, 4 after the point.
_DECIMAL_COLUMNS = frozenset(
    {"price_current", "price_original", "price_promo", "price_discount", "weight_kg"}
)
_BOOL_COLUMNS = frozenset(
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
_INT_COLUMNS = frozenset({"stock_state", "image_count", "promotion_count"})
_TIME_COLUMNS = frozenset({"fetched_at"})
_QUANTUM = Decimal("0.0001")
_SKU_PREFIX = '{"sku_id":"'
_RAW_KEY = ',"raw":'


class ExportError(Exception):
    """An output cannot be written as asked (the message says what to change)."""


def columns() -> list[str]:
    """The CSV / Parquet columns: ``requested_id``, ``id_mismatch``, then the flattened
    core fields of :class:`Product`."""
    return [*TIE_COLUMNS, *Product(sku_id="0", title="", url="").flat()]


def guess_format(path: Path, explicit: str | None = None) -> Format:
    """``explicit`` when given, else from the file suffix; an unknown suffix is an error."""
    if explicit is not None:
        if explicit not in FORMATS:
            raise ExportError(f"unknown format {explicit!r}: use one of {', '.join(FORMATS)}")
        return explicit
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        known = ", ".join(_SUFFIXES)
        raise ExportError(
            f"cannot tell the output format from {path.name!r} (known suffixes: {known}); "
            "rename the file or pass --format jsonl|csv|parquet"
        )
    return found


class Writer(Protocol):
    """Receives each product once, in the order results arrive."""

    mismatches: int

    def write(self, product_json: str, requested_id: str | None = None) -> None:
        """Append one product (its JSON, as stored in the journal) asked for as
        ``requested_id`` (default: the product's own id)."""

    def close(self) -> None:
        """Flush and close the file."""


class RowWriter:
    """Shared bookkeeping: the id-mismatch count and the first few examples."""

    def __init__(self) -> None:
        self.mismatches = 0
        self.examples: list[tuple[str, str]] = []

    def _tie(self, requested_id: str | None, sku_id: str) -> tuple[str, bool]:
        requested = sku_id if requested_id is None else requested_id
        mismatch = requested != sku_id
        if mismatch:
            self.mismatches += 1
            if len(self.examples) < 5:
                self.examples.append((requested, sku_id))
        return requested, mismatch

    def write(self, product_json: str, requested_id: str | None = None) -> None:
        """Append one product asked for as ``requested_id``."""
        raise NotImplementedError

    def close(self) -> None:
        """Flush and close the file."""
        raise NotImplementedError


class JsonlWriter(RowWriter):
    """One product JSON object per line (``raw`` only when asked), flushed per line."""

    def __init__(self, path: Path, *, raw: bool = False) -> None:
        super().__init__()
        self._raw = raw
        self._file: IO[str] = path.open("w", encoding="utf-8", newline="\n")

    def write(self, product_json: str, requested_id: str | None = None) -> None:
        line = self._fast(product_json, requested_id)
        if line is None:
            data: dict[str, Any] = json.loads(product_json)
            if not self._raw:
                data.pop("raw", None)
            requested, mismatch = self._tie(requested_id, str(data.get("sku_id")))
            row = {"requested_id": requested, "id_mismatch": mismatch, **data}
            line = json.dumps(row, ensure_ascii=False, separators=(",", ":"))
        self._file.write(line)
        self._file.write("\n")
        self._file.flush()

    def _fast(self, product_json: str, requested_id: str | None) -> str | None:
        """The row by string surgery on ``Product.model_dump_json()`` output (``sku_id``
        first, ``raw`` last), without parsing the product (half a millisecond for a
        typical payload); ``None`` when the JSON does not have that shape."""
        if not product_json.startswith(_SKU_PREFIX) or not product_json.endswith("}"):
            return None
        end = product_json.find('"', len(_SKU_PREFIX))
        sku_id = product_json[len(_SKU_PREFIX) : end]
        if not sku_id.isdigit():
            return None
        body = product_json
        if not self._raw:
            # exactly one ',"raw":' can only be the top-level key (a quote inside a JSON
            # string is escaped), so everything after it is the raw payload
            if body.count(_RAW_KEY) != 1:
                return None
            body = body[: body.find(_RAW_KEY)] + "}"
        requested, mismatch = self._tie(requested_id, sku_id)
        return (
            f'{{"requested_id":{json.dumps(requested, ensure_ascii=False)},'
            f'"id_mismatch":{"true" if mismatch else "false"},{body[1:]}'
        )

    def close(self) -> None:
        self._file.close()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class CsvWriter(RowWriter):
    """Flattened core fields, UTF-8 with a header row (and a BOM with ``bom=True``, so
    Excel reads it as UTF-8), flushed per row."""

    def __init__(self, path: Path, *, bom: bool = False) -> None:
        super().__init__()
        self._columns = columns()
        encoding = "utf-8-sig" if bom else "utf-8"
        self._file: IO[str] = path.open("w", encoding=encoding, newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerow(self._columns)
        self._file.flush()

    def write(self, product_json: str, requested_id: str | None = None) -> None:
        flat = Product.model_validate_json(product_json).flat()
        flat["requested_id"], flat["id_mismatch"] = self._tie(requested_id, str(flat["sku_id"]))
        self._csv.writerow([_cell(flat.get(name)) for name in self._columns])
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def parquet_schema() -> Any:
    """The fixed, typed Parquet schema of :func:`columns` (needs ``pyarrow``)."""
    import pyarrow as pa

    fields = []
    for name in columns():
        if name in _DECIMAL_COLUMNS:
            kind = pa.decimal128(18, 4)
        elif name in _BOOL_COLUMNS:
            kind = pa.bool_()
        elif name in _INT_COLUMNS:
            kind = pa.int64()
        elif name in _TIME_COLUMNS:
            kind = pa.timestamp("us", tz="UTC")
        else:
            kind = pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _typed(name: str, value: Any) -> Any:
    if value is None or value == "":
        return None
    try:
        if name in _DECIMAL_COLUMNS:
            return Decimal(str(value)).quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)
        if name in _BOOL_COLUMNS:
            return value if isinstance(value, bool) else None
        if name in _INT_COLUMNS:
            return int(value) if not isinstance(value, bool) else None
        if name in _TIME_COLUMNS:
            return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None
    return value if isinstance(value, str) else str(value)


class ParquetWriter(RowWriter):
    """Flattened core fields, typed (:func:`parquet_schema`), in row groups of
    ``group_rows`` rows (needs ``pyarrow``)."""

    def __init__(self, path: Path, *, group_rows: int = 1000) -> None:
        super().__init__()
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise ExportError(
                "Parquet output needs pyarrow: pip install 'jditem[parquet]', "
                "or use --format jsonl / csv"
            ) from exc
        self._schema = parquet_schema()
        self._group_rows = group_rows
        self._rows: list[dict[str, Any]] = []
        self._writer: Any = pq.ParquetWriter(str(path), self._schema)

    def write(self, product_json: str, requested_id: str | None = None) -> None:
        flat = Product.model_validate_json(product_json).flat()
        flat["requested_id"], flat["id_mismatch"] = self._tie(requested_id, str(flat["sku_id"]))
        self._rows.append(flat)
        if len(self._rows) >= self._group_rows:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        data = {
            field.name: [_typed(field.name, row.get(field.name)) for row in self._rows]
            for field in self._schema
        }
        self._writer.write_table(pa.table(data, schema=self._schema))
        self._rows.clear()

    def close(self) -> None:
        if self._rows:
            self._flush()
        self._writer.close()


def open_writer(path: Path, fmt: Format, *, raw: bool = False, bom: bool = False) -> RowWriter:
    """A writer for ``fmt`` at ``path`` (the file is replaced; parents are created).

    ``raw`` keeps the raw payload in JSON Lines; ``bom`` starts a CSV with a UTF-8 BOM.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            return CsvWriter(path, bom=bom)
        if fmt == "parquet":
            return ParquetWriter(path)
        return JsonlWriter(path, raw=raw)
    except OSError as exc:
        raise ExportError(
            f"cannot write {path}: {exc.strerror or exc}; choose another -o path"
        ) from exc
