"""Where batch jobs live (``JDITEM_HOME/jobs/<name>.sqlite``), their names, and the
policy for opening one: a job whose input changed since its last run starts afresh.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from jditem.batch.journal import Journal
from jditem.private_files import SQLITE_COMPANIONS

_JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class JournalError(Exception):
    """A journal cannot be opened or named as asked."""


def default_home() -> Path:
    """``JDITEM_HOME``, else ``~/.jditem`` (where journals and the cache live)."""
    return Path(os.environ.get("JDITEM_HOME") or "~/.jditem").expanduser()


def check_job_name(name: str) -> str:
    """``name`` if it is a safe file name, else :class:`JournalError` saying what to use."""
    if not _JOB_NAME.fullmatch(name):
        raise JournalError(
            f"invalid job name {name[:40]!r}: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def jobs_dir(home: Path) -> Path:
    """Where journals live: ``<home>/jobs``."""
    return home / "jobs"


def journal_path(home: Path, job: str) -> Path:
    """The journal file of ``job``."""
    return jobs_dir(home) / f"{check_job_name(job)}.sqlite"


def resume_command(job: str) -> str:
    """The command that continues ``job`` (its settings come from its journal)."""
    return f"jditem batch --job {job} --resume"


def remove_journal(path: Path) -> None:
    """Delete a journal with its ``-wal`` / ``-shm`` companions."""
    for suffix in ("", *SQLITE_COMPANIONS):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def job_wrote(home: Path, job: str | None, output: Path) -> bool:
    """Whether ``output`` is the stored output of ``job`` (journals older than the
    output registry: their output is theirs to replace)."""
    if job is None:
        return False
    try:
        path = journal_path(home, job)
    except JournalError:
        return False
    if not path.exists():
        return False
    with Journal(path) as journal:
        return journal.get_meta("output") == str(output.expanduser().resolve())


@dataclass(frozen=True)
class OpenedJournal:
    """A job's journal as :func:`open_journal` left it."""

    journal: Journal
    #: The journal did not exist (or was started afresh): nothing is in it yet.
    created: bool
    #: The job's input changed since its last run: the job started afresh.
    restarted: bool


def open_journal(path: Path, *, input_digest: str | None, resume: bool) -> OpenedJournal:
    """Open (creating) the journal at ``path`` for a run over an input hashed
    ``input_digest``.

    When the input changed since the job's last run, the job starts afresh — unless
    ``resume`` adds the input to the old job — keeping where its output goes; the items
    it fetched before come from the local result cache at no charge.
    """
    existed = path.exists()
    carried: dict[str, str] = {}
    restarted = False
    if existed and input_digest is not None and not resume:
        with Journal(path) as old:
            before = old.get_meta("input_digest")
            restarted = before is not None and before != input_digest
            if restarted:
                carried = {k: v for k in ("output", "format") if (v := old.get_meta(k)) is not None}
        if restarted:
            remove_journal(path)
            existed = False
    journal = Journal(path)
    if carried:
        journal.set_meta(**carried)
    return OpenedJournal(journal, created=not existed, restarted=restarted)
