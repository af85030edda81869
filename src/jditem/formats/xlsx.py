"""The product table as an Excel workbook (``.xlsx``), typed (needs ``jditem[excel]``).

Written with XlsxWriter: a library made only for writing ``.xlsx`` (no reading, no
dependencies), well kept, that streams rows to disk in its constant-memory mode and
writes each value through an explicit typed call, so text is never turned into a
formula, a number or a link by guesswork.

Cells are typed like the Parquet columns (:mod:`.table`): prices and weight are numbers
(two or three decimals shown), counts integers, flags booleans, ``fetched_at`` a date
and time in UTC; everything else is text — ids included, so Excel keeps
``100012043978`` as it is instead of ``1.00012E+11``. Text that looks like a formula
(:func:`.cells.formula_like`) keeps its exact value and gets Excel's "quote prefix"
style, the same mark Excel sets when a person types ``'=…``: shown and kept as text,
even after the cell is edited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import IO, Any

from jditem.formats.cells import formula_like
from jditem.formats.table import COLUMNS, typed
from jditem.formats.writers import FormatUnavailable, RowWriter

MISSING = (
    "Excel output needs XlsxWriter: pip install 'jditem[excel]' (or jditem[all]), "
    "or use --format csv"
)
#: Rows an Excel sheet holds, the header row included.
MAX_ROWS = 1_048_576
_WIDTHS = {"title": 48, "short_title": 32, "shop_name": 24, "brand_name": 20, "url": 40}


class TooManyRows(Exception):
    """An Excel sheet is full (the message says what to use instead)."""


def available() -> bool:
    """Whether XlsxWriter is installed."""
    try:
        import xlsxwriter  # noqa: F401
    except ImportError:
        return False
    return True


class XlsxWriter(RowWriter):
    """The table as one sheet, ``products``, with a bold frozen header and a filter;
    written to ``target`` (a path or a binary stream) by :meth:`close`."""

    def __init__(self, target: str | IO[bytes]) -> None:
        super().__init__()
        try:
            import xlsxwriter
        except ImportError as exc:
            raise FormatUnavailable(MISSING) from exc
        self._book: Any = xlsxwriter.Workbook(
            target,
            {
                "constant_memory": True,
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
            },
        )
        self._sheet: Any = self._book.add_worksheet("products")
        self._text = self._book.add_format({"quote_prefix": True})
        self._money = self._book.add_format({"num_format": "0.00##"})
        self._time = self._book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        header = self._book.add_format({"bold": True})
        for col, name in enumerate(COLUMNS):
            self._sheet.set_column(col, col, _WIDTHS.get(name, max(10, len(name) + 2)))
            self._sheet.write_string(0, col, name, header)
        self._sheet.freeze_panes(1, 0)

    def add(self, row: dict[str, Any]) -> None:
        line = self.rows + 1
        if line >= MAX_ROWS:
            raise TooManyRows(
                f"an Excel sheet holds at most {MAX_ROWS - 1:,} products; write this job "
                "as CSV or Parquet (jditem export JOB -o out.csv)"
            )
        sheet = self._sheet
        for col, name in enumerate(COLUMNS):
            value = typed(name, row.get(name))
            if value is None:
                continue
            if isinstance(value, bool):
                sheet.write_boolean(line, col, value)
            elif isinstance(value, Decimal):
                sheet.write_number(line, col, float(value), self._money)
            elif isinstance(value, int):
                sheet.write_number(line, col, value)
            elif isinstance(value, datetime):
                naive = value.astimezone(UTC).replace(tzinfo=None)
                sheet.write_datetime(line, col, naive, self._time)
            else:
                text = str(value)
                sheet.write_string(line, col, text, self._text if formula_like(text) else None)
        self.rows += 1

    def close(self) -> None:
        self._sheet.autofilter(0, 0, self.rows, len(COLUMNS) - 1)
        self._book.close()
