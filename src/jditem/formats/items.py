"""Reading a list of items: plain lines, CSV or JSON Lines, streamed.

One reader for ``jditem batch`` and the console's bulk-job form, so both accept the
same inputs and skip the same lines:

* **lines**: one item id or JD item URL per line (or several on a line, separated by
  commas, semicolons or spaces); blank lines and ``#`` comments are skipped.
* **csv** (``.csv``, ``.tsv``): the id comes from one column: ``id_column`` when given,
  else the first column called ``itemId``, ``item_id``, ``sku``, ``skuId``, ``sku_id``
  or ``url`` (any case), else the first column. A first row whose chosen cell already
  is an id is data, not a header.
* **jsonl** (``.jsonl``, ``.ndjson``, ``.json``): one JSON object per line, the id from
  the ``id_column`` field or the first of the default names present; a bare JSON
  string or number is an id too.

A named input with one of those suffixes is read as it says; anything else (``.txt``,
stdin, a pasted list) is sniffed from its first line (:func:`sniff_format`).

Every cell may be an id or a JD item URL. A row that names no item becomes an
:class:`InvalidLine` (with its 1-based line number) instead of an error, so one bad
row never stops a batch. Duplicates are collapsed by the caller (the journal's unique
key, or :func:`collect`), so the readers hold nothing of the input in memory.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from jditem.protocol.ids import parse_item_ref

#: How much of an invalid line is kept for messages (inputs may hold very long junk).
MAX_SHOWN = 80
#: Column / field names read by default, in order of preference (compared case-insensitively).
DEFAULT_ID_COLUMNS = ("itemId", "item_id", "sku", "skuId", "sku_id", "url")
_DEFAULT_FOLDED = frozenset(name.casefold() for name in DEFAULT_ID_COLUMNS)
#: What separates several ids on one line of a plain list.
_SEPARATORS = re.compile(r"[\s,;]+")

InputFormat = Literal["lines", "csv", "jsonl"]
INPUT_FORMATS: tuple[InputFormat, ...] = ("lines", "csv", "jsonl")
_SUFFIXES: dict[str, InputFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_NOT_AN_ITEM = "is neither an item id (1-20 digits) nor a JD item URL"


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
    reason: str = _NOT_AN_ITEM

    @property
    def shown(self) -> str:
        """The line's text, shortened to :data:`MAX_SHOWN` characters."""
        return self.text if len(self.text) <= MAX_SHOWN else self.text[:MAX_SHOWN] + "…"

    @property
    def message(self) -> str:
        """What was wrong with the line and what to do about it."""
        hint = " like https://item.jd.com/100012043978.html" if self.reason == _NOT_AN_ITEM else ""
        return (
            f"line {self.line_no}: {self.shown!r} {self.reason}{hint}"
            " — skipped; fix or remove the line"
        )


@dataclass
class InputInfo:
    """What a reader learnt about its input: the format, and for a CSV its header and
    the column the ids came from (filled while reading)."""

    format: InputFormat = "lines"
    columns: list[str] = field(default_factory=list)
    column: str | None = None


def _suffix_format(name: str) -> InputFormat | None:
    dot = name.rfind(".")
    return _SUFFIXES.get(name[dot:].lower()) if dot > 0 else None


def input_format_for(name: str, explicit: str | None = None) -> InputFormat:
    """``explicit`` when given, else from the file suffix of ``name``, else ``lines``."""
    if explicit is not None:
        if explicit not in INPUT_FORMATS:
            raise InputError(
                f"unknown input format {explicit!r}: use one of {', '.join(INPUT_FORMATS)}"
            )
        return explicit
    return _suffix_format(name) or "lines"


def detect_format(name: str, first_line: str, explicit: str | None = None) -> InputFormat:
    """``explicit`` when given, else from a known suffix of ``name``, else sniffed from
    ``first_line`` (its first non-blank line)."""
    if explicit is not None:
        return input_format_for(name, explicit)
    return _suffix_format(name) or sniff_format(first_line)


def _ids_of(text: str) -> list[str] | None:
    """The ids of a line naming one item, or several separated by commas, semicolons
    or spaces; ``None`` when any part names no item."""
    single = parse_item_ref(text)
    if single is not None:
        return [single]
    parts = [part.strip("\"'") for part in _SEPARATORS.split(text) if part.strip("\"'")]
    ids = [parse_item_ref(part) for part in parts]
    if not ids or None in ids:
        return None
    return [item_id for item_id in ids if item_id is not None]


def sniff_format(first_line: str) -> InputFormat:
    """Guess the format of a nameless input (stdin, a paste) from its first non-blank
    line: ``{`` starts JSON Lines; a line of ids is a plain list; a known id column
    name, or several cells that are not all ids, is a CSV header."""
    text = first_line.strip().lstrip("\ufeff")
    if text.startswith("{"):
        return "jsonl"
    if _ids_of(text) is not None:
        return "lines"
    if text.strip("\"'").casefold() in _DEFAULT_FOLDED or "," in text or "\t" in text:
        return "csv"
    return "lines"


def parse_input(
    lines: Iterable[str],
    fmt: InputFormat = "lines",
    *,
    id_column: str | None = None,
    info: InputInfo | None = None,
) -> Iterator[ItemLine | InvalidLine]:
    """The items of ``lines`` read as ``fmt`` (see the module docstring); ``info``
    receives the format and the CSV header as they are read."""
    if info is not None:
        info.format = fmt
    if fmt == "csv":
        return parse_csv(lines, id_column=id_column, info=info)
    if fmt == "jsonl":
        return parse_jsonl(lines, id_column=id_column)
    if id_column is not None:
        raise InputError(
            "an id column needs a CSV or JSON Lines input with a header (a .csv / .jsonl "
            "file, or --input-format csv|jsonl); a plain list has no columns"
        )
    return parse_lines(lines)


def parse_lines(lines: Iterable[str]) -> Iterator[ItemLine | InvalidLine]:
    """Classify each input line; blank lines and ``#`` comments yield nothing."""
    for line_no, raw in enumerate(lines, start=1):
        text = raw.strip().lstrip("\ufeff")
        if not text or text.startswith("#"):
            continue
        ids = _ids_of(text)
        if ids is None:
            yield InvalidLine(line_no, text)
        else:
            for item_id in ids:
                yield ItemLine(line_no, item_id)


def _pick(names: list[str], id_column: str | None) -> int:
    folded = [name.casefold() for name in names]
    if id_column is not None:
        try:
            return folded.index(id_column.strip().casefold())
        except ValueError:
            shown = ", ".join(repr(n) for n in names[:20])
            raise InputError(
                f"no column {id_column!r} in the input (columns: {shown}); "
                "name one of them as the id column (--id-column)"
            ) from None
    for wanted in DEFAULT_ID_COLUMNS:
        if wanted.casefold() in folded:
            return folded.index(wanted.casefold())
    return 0


def parse_csv(
    lines: Iterable[str], *, id_column: str | None = None, info: InputInfo | None = None
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
                if info is not None:
                    info.columns, info.column = cells, cells[column]
                continue
        cell = row[column].strip() if column < len(row) else ""
        item_id = parse_item_ref(cell) if cell else None
        if item_id is None:
            text = cell if cell else ",".join(row)
            reason = _NOT_AN_ITEM if cell else "has no value in the id column"
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


@dataclass
class ItemList:
    """A whole input read into memory (for a bounded input, like a console upload):
    its distinct ids in first-seen order and what was skipped."""

    ids: list[str] = field(default_factory=list)
    duplicates: int = 0
    skipped: list[InvalidLine] = field(default_factory=list)
    skipped_total: int = 0


def collect(
    entries: Iterable[ItemLine | InvalidLine],
    into: ItemList | None = None,
    *,
    keep_skipped: int = 100,
) -> ItemList:
    """Gather ``entries`` into ``into`` (a new :class:`ItemList` by default): ids
    deduplicated (also against those already there), the first ``keep_skipped``
    invalid lines kept and all of them counted."""
    result = into if into is not None else ItemList()
    seen = set(result.ids)
    for entry in entries:
        if isinstance(entry, InvalidLine):
            result.skipped_total += 1
            if len(result.skipped) < keep_skipped:
                result.skipped.append(entry)
        elif entry.item_id in seen:
            result.duplicates += 1
        else:
            seen.add(entry.item_id)
            result.ids.append(entry.item_id)
    return result
