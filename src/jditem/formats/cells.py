"""Spreadsheet-safe cells: CSV and Excel text that a spreadsheet never runs as a formula.

Spreadsheets treat a cell starting with ``=``, ``+``, ``-`` or ``@`` as a formula (and
tab or carriage return as a way to start one), so a product title such as
``=HYPERLINK("http://evil.example", "click")`` in a CSV would run when the file is
opened. Following OWASP's advice for CSV injection, such a text cell is written with a
leading single quote (``'=HYPERLINK(…``), which spreadsheets show as text.

Numbers stay numbers: a cell that is wholly a plain number (``-12.50``, ``+3``,
``1e5``) cannot hold a formula, so a negative price is written as it is. Only CSV and
Excel cells are touched; JSON Lines and Parquet keep every value exactly (they are read
by programs, not spreadsheets). In Excel files the value itself stays exact: the cell
is typed as text and marked with Excel's own "quote prefix" style instead
(:func:`formula_like`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def formula_like(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula (it starts with one of
    :data:`FORMULA_STARTS` and is not a plain number)."""
    return text.startswith(FORMULA_STARTS) and _PLAIN_NUMBER.fullmatch(text) is None


def safe_text(text: str) -> str:
    """``text`` as a spreadsheet shows it and never runs it: a leading ``'`` when it
    looks like a formula (see the module docstring), else unchanged."""
    return "'" + text if formula_like(text) else text


def csv_value(value: Any) -> str:
    """One CSV cell: empty for ``None``, ``true``/``false`` for booleans, numbers as
    they are, text made spreadsheet-safe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return safe_text(value)
    return str(value)


def csv_line(values: Iterable[Any]) -> str:
    """One CSV record (``\\r\\n``-terminated, like every CSV the project writes) of
    :func:`csv_value` cells."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([csv_value(value) for value in values])
    return buffer.getvalue()
