"""The product table as Parquet: typed columns, row groups (needs ``jditem[parquet]``)."""

from __future__ import annotations

from typing import Any

from jditem.formats.table import (
    BOOL_COLUMNS,
    COLUMNS,
    DECIMAL_COLUMNS,
    INT_COLUMNS,
    TIME_COLUMNS,
    typed,
)
from jditem.formats.writers import FormatUnavailable, RowWriter

MISSING = "Parquet output needs pyarrow: pip install 'jditem[parquet]', or use --format jsonl / csv"


def available() -> bool:
    """Whether pyarrow is installed."""
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def parquet_schema() -> Any:
    """The fixed, typed Parquet schema of :data:`.table.COLUMNS` (needs ``pyarrow``)."""
    import pyarrow as pa

    fields = []
    for name in COLUMNS:
        if name in DECIMAL_COLUMNS:
            kind = pa.decimal128(18, 4)
        elif name in BOOL_COLUMNS:
            kind = pa.bool_()
        elif name in INT_COLUMNS:
            kind = pa.int64()
        elif name in TIME_COLUMNS:
            kind = pa.timestamp("us", tz="UTC")
        else:
            kind = pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


class ParquetWriter(RowWriter):
    """The table, typed (:func:`parquet_schema`), in row groups of ``group_rows`` rows,
    written to the file at ``path``."""

    def __init__(self, path: str, *, group_rows: int = 1000) -> None:
        super().__init__()
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise FormatUnavailable(MISSING) from exc
        self._schema = parquet_schema()
        self._group_rows = group_rows
        self._pending: list[dict[str, Any]] = []
        self._writer: Any = pq.ParquetWriter(path, self._schema)

    def add(self, row: dict[str, Any]) -> None:
        self._pending.append(row)
        self.rows += 1
        if len(self._pending) >= self._group_rows:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        data = {
            field.name: [typed(field.name, row.get(field.name)) for row in self._pending]
            for field in self._schema
        }
        self._writer.write_table(pa.table(data, schema=self._schema))
        self._pending.clear()

    def close(self) -> None:
        if self._pending:
            self._flush()
        self._writer.close()
