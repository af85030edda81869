"""Reading a batch input: one item id or JD item URL per line, streamed.

Blank lines and ``#`` comments are skipped; a line that is neither an id nor a JD item
URL becomes an :class:`InvalidLine` (with its 1-based line number) instead of an error,
so one bad line never stops a batch. Duplicates are collapsed by the caller (the
journal's unique key), so nothing here holds the whole input in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from jditem.protocol.ids import parse_item_ref

#: How much of an invalid line is kept for messages (inputs may hold very long junk).
MAX_SHOWN = 80


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

    @property
    def message(self) -> str:
        """What was wrong with the line and what to do about it."""
        shown = self.text if len(self.text) <= MAX_SHOWN else self.text[:MAX_SHOWN] + "…"
        return (
            f"line {self.line_no}: {shown!r} is neither an item id (1-20 digits) nor a JD item "
            "URL like https://item.jd.com/100012043978.html — skipped; fix or remove the line"
        )


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


def unique_ids(lines: Iterable[str]) -> Iterator[str]:
    """The valid item ids of ``lines`` in first-seen order, duplicates dropped.

    Keeps a set of the ids seen (about 60 bytes each); the CLI uses the journal instead.
    """
    seen: set[str] = set()
    for entry in parse_lines(lines):
        if isinstance(entry, ItemLine) and entry.item_id not in seen:
            seen.add(entry.item_id)
            yield entry.item_id
