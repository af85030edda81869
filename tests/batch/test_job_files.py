"""Where jobs live, their names, and the policy for opening a job's journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from jditem.batch.job_files import (
    JournalError,
    job_wrote,
    journal_path,
    open_journal,
    remove_journal,
    resume_command,
)
from jditem.formats.items import parse_lines


@pytest.mark.parametrize("name", ["../x", "", "a/b", ".hidden", "x" * 101])
def test_bad_job_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(JournalError, match="invalid job name"):
        journal_path(tmp_path, name)


def test_a_new_job_is_created(tmp_path: Path) -> None:
    opened = open_journal(tmp_path / "j.sqlite", input_digest="a", resume=False)
    with opened.journal:
        assert opened.created
        assert not opened.restarted


def test_a_changed_input_restarts_the_job_keeping_its_output(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with open_journal(path, input_digest="a", resume=False).journal as journal:
        journal.load(parse_lines(["1", "2"]))
        journal.set_meta(input_digest="a", output="/out.jsonl", format="jsonl", base_url="u")
    same = open_journal(path, input_digest="a", resume=False)
    with same.journal as journal:
        assert not same.created
        assert not same.restarted
        assert journal.counts()["total"] == 2
    changed = open_journal(path, input_digest="b", resume=False)
    with changed.journal as journal:
        assert changed.created
        assert changed.restarted
        assert journal.counts()["total"] == 0
        assert journal.get_meta("output") == "/out.jsonl"
        assert journal.get_meta("format") == "jsonl"
        assert journal.get_meta("base_url") is None


def test_resume_adds_to_the_old_job_whatever_the_input(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with open_journal(path, input_digest="a", resume=False).journal as journal:
        journal.load(parse_lines(["1"]))
        journal.set_meta(input_digest="a")
    opened = open_journal(path, input_digest="b", resume=True)
    with opened.journal as journal:
        assert not opened.created
        assert not opened.restarted
        assert journal.counts()["total"] == 1


def test_job_wrote_knows_the_output_of_a_job(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    assert not job_wrote(tmp_path, "job", out)  # no such job
    assert not job_wrote(tmp_path, "../bad", out)  # no such name
    assert not job_wrote(tmp_path, None, out)
    path = journal_path(tmp_path, "job")
    with open_journal(path, input_digest=None, resume=False).journal as journal:
        journal.set_meta(output=str(out.resolve()))
    assert job_wrote(tmp_path, "job", out)
    assert not job_wrote(tmp_path, "job", tmp_path / "other.jsonl")
    remove_journal(path)
    assert list(path.parent.iterdir()) == []


def test_resume_command_names_the_job() -> None:
    assert resume_command("nightly") == "jditem batch --job nightly --resume"
