"""Writing the product table (:mod:`.table`): JSON Lines and CSV, row by row.

JSON Lines holds the normalized product; its bulky ``raw`` payload only with
``raw=True`` (like ``jditem get --json``, which leaves it out too). CSV holds the
flattened core fields, ``true``/``false`` for flags, text cells spreadsheet-safe
(:mod:`.cells`). Parquet and Excel are in :mod:`.parquet` and :mod:`.xlsx`.

A writer writes to a stream it is given: the CLI's output file, or a buffer the
console streams to a browser — one writer, so both files are the same.
"""

from __future__ import annotations

import json
from typing import IO, Any, Protocol

from jditem.formats.cells import csv_line
from jditem.formats.table import COLUMNS, Tie
from jditem.protocol.product import Product

_SKU_PREFIX = '{"sku_id":"'
_RAW_KEY = ',"raw":'


class FormatUnavailable(Exception):
    """A format's library is not installed (the message names the extra to install)."""


class Writer(Protocol):
    """Receives each product once, in the order results arrive (whoever opened the
    writer closes it)."""

    @property
    def mismatches(self) -> int:
        """Rows whose product carries another id than the one asked for."""

    def write(self, product_json: str, requested_id: str | None = None) -> None:
        """Append one product (its JSON, as stored in the journal) asked for as
        ``requested_id`` (default: the product's own id)."""


class RowWriter:
    """Shared bookkeeping: rows written and the requested-id tie (:class:`.table.Tie`)."""

    def __init__(self) -> None:
        self.tie = Tie()
        self.rows = 0

    @property
    def mismatches(self) -> int:
        """Rows whose product carries another id than the one asked for."""
        return self.tie.mismatches

    @property
    def examples(self) -> list[tuple[str, str]]:
        """The first few ``(asked, got)`` pairs of those rows."""
        return self.tie.examples

    def write(self, product_json: str, requested_id: str | None = None) -> None:
        """Append one product (``Product`` JSON) asked for as ``requested_id``."""
        self.write_product(Product.model_validate_json(product_json), requested_id)

    def write_product(self, product: Product, requested_id: str | None = None) -> None:
        """Append one product asked for as ``requested_id``."""
        self.add(self.tie.row(product, requested_id))

    def add(self, row: dict[str, Any]) -> None:
        """Append one table row (:meth:`.table.Tie.row`)."""
        raise NotImplementedError

    def close(self) -> None:
        """Flush and finish the output (the stream stays the caller's to close)."""


class JsonlWriter(RowWriter):
    """One product JSON object per line (``raw`` only when asked), flushed per line."""

    def __init__(self, stream: IO[str], *, raw: bool = False) -> None:
        super().__init__()
        self._raw = raw
        self._file = stream

    def write(self, product_json: str, requested_id: str | None = None) -> None:
        line = self._fast(product_json, requested_id)
        if line is None:
            data: dict[str, Any] = json.loads(product_json)
            if not self._raw:
                data.pop("raw", None)
            requested, mismatch = self.tie(requested_id, str(data.get("sku_id")))
            row = {"requested_id": requested, "id_mismatch": mismatch, **data}
            line = json.dumps(row, ensure_ascii=False, separators=(",", ":"))
        self._file.write(line)
        self._file.write("\n")
        self._file.flush()
        self.rows += 1

    def write_product(self, product: Product, requested_id: str | None = None) -> None:
        self.write(product.model_dump_json(), requested_id)

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
        requested, mismatch = self.tie(requested_id, sku_id)
        return (
            f'{{"requested_id":{json.dumps(requested, ensure_ascii=False)},'
            f'"id_mismatch":{"true" if mismatch else "false"},{body[1:]}'
        )


class CsvWriter(RowWriter):
    """The table as CSV with a header row (and a UTF-8 BOM with ``bom=True``, so Excel
    reads it as UTF-8), flushed per row; text cells spreadsheet-safe."""

    def __init__(self, stream: IO[str], *, bom: bool = False) -> None:
        super().__init__()
        self._file = stream
        self._file.write(("\ufeff" if bom else "") + csv_line(COLUMNS))
        self._file.flush()

    def add(self, row: dict[str, Any]) -> None:
        self._file.write(csv_line(row.get(name) for name in COLUMNS))
        self._file.flush()
        self.rows += 1
