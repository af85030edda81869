"""Reading a batch input: plain lines, CSV or JSON Lines, streamed.

* **lines** (``.txt`` and anything else): one item id or JD item URL per line; blank
  lines and ``#`` comments are skipped.
* **csv** (``.csv``, ``.tsv``): the id comes from one column: ``id_column`` when given,
  else the first column called ``itemId``, ``item_id``, ``sku``, ``skuId``, ``sku_id``
  or ``url`` (any case), else the first column. A first row whose chosen cell already
  is an id is data, not a header.
* **jsonl** (``.jsonl``, ``.ndjson``, ``.json``): one JSON object per line, the id from
  the ``id_column`` field or the first of the default names present; a bare JSON
  string or number is an id too.

Every cell may be an id or a JD item URL. A row that names no item becomes an
:class:`InvalidLine` (with its 1-based line number) instead of an error, so one bad
row never stops a batch. Duplicates are collapsed by the caller (the journal's unique
key), so nothing here holds the whole input in memory.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from jditem.protocol.ids import parse_item_ref

#: How much of an invalid line is kept for messages (inputs may hold very long junk).
MAX_SHOWN = 80
#: Column / field names read by default, in order of preference (compared case-insensitively).
DEFAULT_ID_COLUMNS = ("itemId", "item_id", "sku", "skuId", "sku_id", "url")

InputFormat = Literal["lines", "csv", "jsonl"]
INPUT_FORMATS: tuple[InputFormat, ...] = ("lines", "csv", "jsonl")
_SUFFIXES: dict[str, InputFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


class InputError(Exception):
    """The input cannot be read as asked (the message says what to change)."""


@dataclass(frozen=True, slots=True)
class ItemLine:
    """A line that names an item."""

    line_no: int
    item_id: str


@dataclass(frozen=True, slots=True)
class InvalidLine:
    """A line that names no item; reported and skipped."""

    line_no: int
    text: str
    reason: str = "is neither an item id (1-20 digits) nor a JD item URL"

    @property
    def message(self) -> str:
        """What was wrong with the line and what to do about it."""
        shown = self.text if len(self.text) <= MAX_SHOWN else self.text[:MAX_SHOWN] + "…"
        hint = (
            "like https://item.jd.com/100012043978.html"
            if self.reason.endswith("JD item URL")
            else ""
        )
        return (
            f"line {self.line_no}: {shown!r} {self.reason}{' ' + hint if hint else ''}"
            " — skipped; fix or remove the line"
        )


def input_format_for(name: str, explicit: str | None = None) -> InputFormat:
    """``explicit`` when given, else from the file suffix of ``name``, else ``lines``."""
    if explicit is not None:
        if explicit not in INPUT_FORMATS:
            raise InputError(
                f"unknown input format {explicit!r}: use one of {', '.join(INPUT_FORMATS)}"
            )
        return explicit
    dot = name.rfind(".")
    return _SUFFIXES.get(name[dot:].lower(), "lines") if dot > 0 else "lines"


def sniff_format(first_line: str) -> InputFormat:
    """Guess the format of a nameless input (stdin) from its first non-blank line."""
    text = first_line.strip().lstrip("\ufeff")
    if text.startswith("{"):
        return "jsonl"
    if parse_item_ref(text) is None and ("," in text or "\t" in text):
        return "csv"
    return "lines"


def parse_input(
    lines: Iterable[str], fmt: InputFormat = "lines", *, id_column: str | None = None
) -> Iterator[ItemLine | InvalidLine]:
    """The items of ``lines`` read as ``fmt`` (see the module docstring)."""
    if fmt == "csv":
        return parse_csv(lines, id_column=id_column)
    if fmt == "jsonl":
        return parse_jsonl(lines, id_column=id_column)
    if id_column is not None:
        raise InputError(
            "--id-column needs a CSV or JSON Lines input (name it .csv / .jsonl, "
            "or pass --input-format csv|jsonl)"
        )
    return parse_lines(lines)


def parse_lines(lines: Iterable[str]) -> Iterator[ItemLine | InvalidLine]:
    """Classify each input line; blank lines and ``#`` comments yield nothing."""
    for line_no, raw in enumerate(lines, start=1):
        text = raw.strip().lstrip("\ufeff")
        if not text or text.startswith("#"):
            continue
        item_id = parse_item_ref(text)
        if item_id is None:
            yield InvalidLine(line_no, text)
        else:
            yield ItemLine(line_no, item_id)


def _pick(names: list[str], id_column: str | None) -> int:
    folded = [name.strip().lstrip("\ufeff").casefold() for name in names]
    if id_column is not None:
        try:
            return folded.index(id_column.casefold())
        except ValueError:
            shown = ", ".join(repr(n) for n in names[:20])
            raise InputError(
                f"no column {id_column!r} in the input (columns: {shown}); "
                "pass --id-column with one of them"
            ) from None
    for wanted in DEFAULT_ID_COLUMNS:
        if wanted.casefold() in folded:
            return folded.index(wanted.casefold())
    return 0


def parse_csv(
    lines: Iterable[str], *, id_column: str | None = None
) -> Iterator[ItemLine | InvalidLine]:
    """Items of a CSV (or tab-separated) input; see the module docstring."""
    iterator = iter(lines)
    head: list[str] = []
    for raw in iterator:
        head.append(raw)
        if raw.strip():
            break
    if not head or not head[-1].strip():
        return
    dialect: type[csv.Dialect] = csv.excel_tab if "\t" in head[-1] else csv.excel

    def chain() -> Iterator[str]:
        yield from head
        yield from iterator

    reader = csv.reader(chain(), dialect)
    column: int | None = None
    for row in reader:
        line_no = reader.line_num
        if not row or not any(cell.strip() for cell in row):
            continue
        if column is None:
            cells = [cell.strip().lstrip("\ufeff") for cell in row]
            if id_column is None and parse_item_ref(cells[0]) is not None:
                column = 0  # no header: the first row is data
            else:
                column = _pick(cells, id_column)
                continue
        cell = row[column].strip() if column < len(row) else ""
        item_id = parse_item_ref(cell) if cell else None
        if item_id is None:
            text = cell if cell else ",".join(row)
            reason = (
                "is neither an item id (1-20 digits) nor a JD item URL"
                if cell
                else "has no value in the id column"
            )
            yield InvalidLine(line_no, text, reason)
        else:
            yield ItemLine(line_no, item_id)


def parse_jsonl(
    lines: Iterable[str], *, id_column: str | None = None
) -> Iterator[ItemLine | InvalidLine]:
    """Items of a JSON Lines input; see the module docstring."""
    wanted = [id_column] if id_column is not None else list(DEFAULT_ID_COLUMNS)
    for line_no, raw in enumerate(lines, start=1):
        text = raw.strip().lstrip("\ufeff")
        if not text or text.startswith("#"):
            continue
        try:
            value = json.loads(text)
        except ValueError:
            yield InvalidLine(line_no, text, "is not valid JSON")
            continue
        if isinstance(value, dict):
            folded = {str(k).casefold(): v for k, v in value.items()}
            found = next((folded[w.casefold()] for w in wanted if w.casefold() in folded), None)
            if found is None:
                names = ", ".join(wanted)
                yield InvalidLine(line_no, text, f"has no field {names}")
                continue
            value = found
        if isinstance(value, bool) or not isinstance(value, str | int):
            yield InvalidLine(line_no, text, "names no item id")
            continue
        item_id = parse_item_ref(str(value))
        if item_id is None:
            yield InvalidLine(line_no, text)
        else:
            yield ItemLine(line_no, item_id)


def unique_ids(lines: Iterable[str]) -> Iterator[str]:
    """The valid item ids of ``lines`` in first-seen order, duplicates dropped.

    Keeps a set of the ids seen (about 60 bytes each); the CLI uses the journal instead.
    """
    seen: set[str] = set()
    for entry in parse_lines(lines):
        if isinstance(entry, ItemLine) and entry.item_id not in seen:
            seen.add(entry.item_id)
            yield entry.item_id
