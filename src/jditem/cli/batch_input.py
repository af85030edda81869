"""The input of ``jditem batch``: checked, hashed (stdin spooled) and named.

A job is scoped to its input: a file's job is named after its path, a stdin job after
its content's hash, so two unrelated stdin runs never share a job.
"""

from __future__ import annotations

import hashlib
import io
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, TextIO

import typer

from jditem.cli.exits import usage_error
from jditem.wording import plural

if TYPE_CHECKING:
    from jditem.batch.journal import Journal
    from jditem.formats.items import InputFormat, InvalidLine

#: Invalid lines printed one by one; the rest are counted (all are in the journal).
MAX_INVALID_SHOWN = 20


def default_job_name(input_path: str, digest: str = "") -> str:
    """``<input stem>-<hash of its absolute path>``; for ``-`` (stdin)
    ``stdin-<hash of the content>``, so unrelated stdin runs never share a job."""
    if input_path == "-":
        return f"stdin-{digest[:12] or 'input'}"
    path = Path(input_path).expanduser().resolve()
    stem = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in path.stem)[:60] or "job"
    if not stem[0].isalnum():
        stem = "job" + stem
    path_digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{stem}-{path_digest}"


@dataclass
class BatchInput:
    """An input read once to learn its content hash; :meth:`open` reads it again."""

    name: str
    digest: str
    spool: IO[bytes] | None = None

    @contextmanager
    def open(self) -> Iterator[TextIO]:
        """The input as text, from its start."""
        if self.spool is not None:
            self.spool.seek(0)
            wrapper = io.TextIOWrapper(self.spool, encoding="utf-8", errors="replace")
            try:
                yield wrapper
            finally:
                wrapper.detach()
            return
        with Path(self.name).expanduser().open(encoding="utf-8", errors="replace") as handle:
            yield handle

    def first_line(self) -> str:
        """The first non-blank line (to sniff the format), or ``""``."""
        with self.open() as handle:
            for line in handle:
                if line.strip():
                    return line
        return ""

    def close(self) -> None:
        """Drop the spooled copy of stdin, if any."""
        if self.spool is not None:
            self.spool.close()


def check_input(input_path: str) -> None:
    """One clear line (and nothing created) for a missing or unreadable input."""
    if input_path == "-":
        return
    path = Path(input_path).expanduser()
    if path.is_dir():
        raise usage_error(f"input {input_path} is a directory; pass a file (or - for stdin)")
    if not path.exists():
        raise usage_error(f"input file {input_path} does not exist; pass a file or - for stdin")


def read_input(input_path: str) -> BatchInput:
    """Hash the input (spooling stdin to a temporary file, in memory up to 8 MB)."""
    digest = hashlib.sha256()
    if input_path == "-":
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115
        source = getattr(sys.stdin, "buffer", None)
        if source is not None:
            while chunk := source.read(1 << 16):
                digest.update(chunk)
                spool.write(chunk)
        else:  # a text-only stream
            for line in sys.stdin:
                data = line.encode("utf-8")
                digest.update(data)
                spool.write(data)
        return BatchInput("-", digest.hexdigest(), spool)
    try:
        with Path(input_path).expanduser().open("rb") as handle:
            while chunk := handle.read(1 << 16):
                digest.update(chunk)
    except OSError as exc:
        raise usage_error(f"cannot read input {input_path}: {exc.strerror or exc}") from None
    return BatchInput(input_path, digest.hexdigest())


def load_input(
    journal: Journal,
    source: BatchInput,
    fmt: InputFormat,
    *,
    id_column: str | None,
    job: str,
    created: bool,
) -> str | None:
    """Add the ids of ``source`` to ``journal``, warning about each invalid line (the
    first :data:`MAX_INVALID_SHOWN`) and saying what was collapsed. Returns why the
    batch cannot go on (nothing read), or ``None``. Raises
    :class:`~jditem.formats.items.InputError` when the input cannot be read as asked."""
    from jditem.formats.items import parse_input

    shown: list[str] = []

    def on_invalid(line: InvalidLine) -> None:
        if len(shown) < MAX_INVALID_SHOWN:
            shown.append(line.message)
            typer.echo(f"warning: {line.message}", err=True)

    before = 0 if created else journal.counts()["total"]
    with source.open() as handle:
        loaded = journal.load(parse_input(handle, fmt, id_column=id_column), on_invalid=on_invalid)
    what = "stdin" if source.name == "-" else source.name
    if loaded.invalid > MAX_INVALID_SHOWN:
        typer.echo(
            f"warning: … and {plural(loaded.invalid - MAX_INVALID_SHOWN, 'more invalid line')} "
            "(all kept in the journal's rejects table)",
            err=True,
        )
    if loaded.added + loaded.duplicates == 0:
        reason = (
            f"all {plural(loaded.invalid, 'row')} were invalid (first: {shown[0]})"
            if loaded.invalid
            else "it is empty"
        )
        return (
            f"no item id read from {what}: {reason}; nothing was fetched. Give one id or "
            "JD item URL per line, or a CSV/JSON Lines file with --id-column NAME"
        )
    note = _collapsed_note(loaded.added, loaded.duplicates, before, what=what, job=job)
    if note:
        typer.echo(f"note: {note}", err=True)
    return None


def _collapsed_note(added: int, duplicates: int, before: int, *, what: str, job: str) -> str:
    """What loading did beyond adding distinct new ids (``""`` when nothing to say)."""
    if not duplicates:
        return ""
    if not before:
        return (
            f"{plural(duplicates, 'row')} of {what} repeated an earlier row's id (collapsed); "
            f"the job has {plural(added, 'item')}"
        )
    if not added:
        return f"job {job} already holds every id of {what} ({plural(before, 'item')})"
    return (
        f"{plural(added, 'new item')} added to job {job} (now {plural(before + added, 'item')}); "
        f"{plural(duplicates, 'row')} of {what} named an id already in it or repeated one"
    )
