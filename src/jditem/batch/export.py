"""Writing products as they arrive: JSON Lines, CSV or Parquet.

JSON Lines keeps the whole normalized product (``raw`` payload included), one object
per line. CSV and Parquet hold the flattened core fields (``Product.flat()``), with a
fixed column set so every file of every job has the same header.
"""

from __future__ import annotations

import csv
import json
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


class ExportError(Exception):
    """An output cannot be written as asked (the message says what to change)."""


def columns() -> list[str]:
    """The CSV / Parquet columns: the flattened core fields of :class:`Product`."""
    return list(Product(sku_id="0", title="", url="").flat())


def guess_format(path: Path, explicit: str | None = None) -> Format:
    """``explicit`` when given, else from the file suffix, else JSON Lines."""
    if explicit is not None:
        if explicit not in FORMATS:
            raise ExportError(f"unknown format {explicit!r}: use one of {', '.join(FORMATS)}")
        return explicit
    return _SUFFIXES.get(path.suffix.lower(), "jsonl")


class Writer(Protocol):
    """Receives each product once, in the order results arrive."""

    def write(self, product_json: str) -> None:
        """Append one product (its JSON, as stored in the journal)."""

    def close(self) -> None:
        """Flush and close the file."""


class JsonlWriter:
    """One product JSON object per line, flushed per line."""

    def __init__(self, path: Path) -> None:
        self._file: IO[str] = path.open("w", encoding="utf-8", newline="\n")

    def write(self, product_json: str) -> None:
        self._file.write(product_json)
        self._file.write("\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class CsvWriter:
    """Flattened core fields, UTF-8 with a header row, flushed per row."""

    def __init__(self, path: Path) -> None:
        self._columns = columns()
        self._file: IO[str] = path.open("w", encoding="utf-8", newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerow(self._columns)
        self._file.flush()

    def write(self, product_json: str) -> None:
        flat = Product.model_validate_json(product_json).flat()
        self._csv.writerow([_cell(flat.get(name)) for name in self._columns])
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class ParquetWriter:
    """Flattened core fields in row groups of ``group_rows`` rows (needs ``pyarrow``).

    Column types are inferred from the first row group: booleans and integers keep
    their type, everything else (prices are decimals) is written as text.
    """

    def __init__(self, path: Path, *, group_rows: int = 1000) -> None:
        try:
            import pyarrow  # noqa: F401
        except ImportError as exc:
            raise ExportError(
                "Parquet output needs pyarrow: pip install 'jditem[parquet]', "
                "or use --format jsonl / csv"
            ) from exc
        self._path = path
        self._columns = columns()
        self._group_rows = group_rows
        self._rows: list[dict[str, Any]] = []
        self._writer: Any = None
        self._schema: Any = None

    def write(self, product_json: str) -> None:
        self._rows.append(Product.model_validate_json(product_json).flat())
        if len(self._rows) >= self._group_rows:
            self._flush()

    def _infer_schema(self) -> Any:
        import pyarrow as pa

        fields = []
        for name in self._columns:
            values = [row.get(name) for row in self._rows if row.get(name) is not None]
            if values and all(isinstance(v, bool) for v in values):
                kind = pa.bool_()
            elif values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                kind = pa.int64()
            else:
                kind = pa.string()
            fields.append(pa.field(name, kind))
        return pa.schema(fields)

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._schema is None:
            self._schema = self._infer_schema()
            self._writer = pq.ParquetWriter(str(self._path), self._schema)
        data: dict[str, list[Any]] = {}
        for field in self._schema:
            data[field.name] = [_typed(row.get(field.name), field.type) for row in self._rows]
        self._writer.write_table(pa.table(data, schema=self._schema))
        self._rows.clear()

    def close(self) -> None:
        if self._rows or self._schema is None:
            self._flush()
        self._writer.close()


def _typed(value: Any, kind: Any) -> Any:
    import pyarrow as pa

    if value is None:
        return None
    if kind == pa.bool_():
        return value if isinstance(value, bool) else None
    if kind == pa.int64():
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def open_writer(path: Path, fmt: Format) -> Writer:
    """A writer for ``fmt`` at ``path`` (the file is replaced; parents are created)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            return CsvWriter(path)
        if fmt == "parquet":
            return ParquetWriter(path)
        return JsonlWriter(path)
    except OSError as exc:
        raise ExportError(
            f"cannot write {path}: {exc.strerror or exc}; choose another -o path"
        ) from exc
