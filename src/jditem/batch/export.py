"""Output files of ``jditem batch -o`` and ``jditem export``: JSON Lines, CSV, Parquet, Excel.

The rows and their writers are :mod:`jditem.formats` (the console's downloads use the
same ones); this module picks the format from the file name and writes the file
safely: under a temporary name in the same directory, created ``0600``, and renamed
into place when the job has written it (:mod:`jditem.formats.files`). A job that
stops before writing any product can leave an existing file untouched
(``close(keep_empty=False)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Literal

from jditem.formats import parquet, xlsx
from jditem.formats.files import PendingFile
from jditem.formats.table import columns
from jditem.formats.writers import (
    CsvWriter,
    FormatUnavailable,
    JsonlWriter,
    RowWriter,
    Writer,
)

__all__ = ["FORMATS", "ExportError", "Format", "OutputFile", "Writer", "columns", "open_writer"]

Format = Literal["jsonl", "csv", "parquet", "xlsx"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv", "parquet", "xlsx")
_SUFFIXES: dict[str, Format] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "xlsx",
}


class ExportError(Exception):
    """An output cannot be written as asked (the message says what to change)."""


def guess_format(path: Path, explicit: str | None = None) -> Format:
    """``explicit`` when given, else from the file suffix; an unknown suffix, or a
    format whose library is not installed, is an error naming what to do."""
    if explicit is not None:
        if explicit not in FORMATS:
            raise ExportError(f"unknown format {explicit!r}: use one of {', '.join(FORMATS)}")
        found: Format | None = explicit
    else:
        found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        known = ", ".join(_SUFFIXES)
        raise ExportError(
            f"cannot tell the output format from {path.name!r} (known suffixes: {known}); "
            f"rename the file or pass --format {'|'.join(FORMATS)}"
        )
    if found == "parquet" and not parquet.available():
        raise ExportError(parquet.MISSING)
    if found == "xlsx" and not xlsx.available():
        raise ExportError(xlsx.MISSING)
    return found


class OutputFile:
    """A table writer whose file is renamed into place by :meth:`close`."""

    def __init__(self, writer: RowWriter, pending: PendingFile, stream: IO[str] | None) -> None:
        self.writer = writer
        self._pending = pending
        self._stream = stream

    @property
    def mismatches(self) -> int:
        """Rows whose product carries another id than the one asked for."""
        return self.writer.mismatches

    @property
    def examples(self) -> list[tuple[str, str]]:
        """The first few ``(asked, got)`` pairs of those rows."""
        return self.writer.examples

    @property
    def rows(self) -> int:
        """Products written so far."""
        return self.writer.rows

    def write(self, product_json: str, requested_id: str | None = None) -> None:
        """Append one product (its JSON, as stored in the journal) asked for as
        ``requested_id``."""
        self.writer.write(product_json, requested_id)

    def abandon(self) -> None:
        """Stop writing and drop the file (after an error): an existing file stays as it was."""
        try:
            self.writer.close()
            if self._stream is not None:
                self._stream.close()
        except (OSError, ValueError):
            pass  # the file is dropped anyway
        finally:
            self._pending.discard()

    def close(self, *, keep_empty: bool = True) -> bool:
        """Finish the file and rename it into place; with ``keep_empty=False`` an output
        without a product is dropped instead, leaving an existing file as it was.
        Returns whether the file was replaced."""
        try:
            self.writer.close()
            if self._stream is not None:
                self._stream.close()
        except (OSError, ValueError) as exc:
            self._pending.discard()
            raise ExportError(f"cannot finish {self._pending.target}: {exc}") from exc
        if self.writer.rows == 0 and not keep_empty:
            self._pending.discard()
            return False
        try:
            self._pending.commit()
        except OSError as exc:
            self._pending.discard()
            raise ExportError(
                f"cannot write {self._pending.target}: {exc.strerror or exc}; "
                "choose another -o path"
            ) from exc
        return True


def open_writer(path: Path, fmt: Format, *, raw: bool = False, bom: bool = False) -> OutputFile:
    """A writer for ``fmt`` whose file becomes ``path`` when closed (parents are created).

    ``raw`` keeps the raw payload in JSON Lines; ``bom`` starts a CSV with a UTF-8 BOM.
    """
    try:
        pending = PendingFile(path.expanduser())
    except OSError as exc:
        raise ExportError(
            f"cannot write {path}: {exc.strerror or exc}; choose another -o path"
        ) from exc
    stream: IO[str] | None = None
    try:
        writer: RowWriter
        if fmt == "parquet":
            writer = parquet.ParquetWriter(str(pending.path))
        elif fmt == "xlsx":
            writer = xlsx.XlsxWriter(str(pending.path))
        else:
            stream = pending.path.open("w", encoding="utf-8", newline="" if fmt == "csv" else "\n")
            writer = CsvWriter(stream, bom=bom) if fmt == "csv" else JsonlWriter(stream, raw=raw)
    except (OSError, FormatUnavailable) as exc:
        if stream is not None:
            stream.close()
        pending.discard()
        detail = exc.strerror if isinstance(exc, OSError) else None
        raise ExportError(str(exc) if detail is None else f"cannot write {path}: {detail}") from exc
    return OutputFile(writer, pending, stream)
