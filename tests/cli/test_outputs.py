"""What ``jditem batch`` and ``jditem export`` write, against the real server (loopback):
outputs renamed into place and 0600 (issue 18 item 2, issue 16 item 16), Excel output
(issue 18 item 5), and the notes of a rerun (issue 18 item 8)."""

from __future__ import annotations

import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.support.cli_runs import BATCH, run_cli
from tests.support.exports import xlsx_rows

IDS = [str(120_000_000_000 + i) for i in range(1, 30)]


def test_a_failed_job_leaves_another_jobs_output_untouched(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The issue's scenario: ``--token jd_bad`` turned another job's 21 products into 0 bytes."""
    small = tmp_path / "small.csv"
    small.write_text("sku\n" + "\n".join(IDS[:21]) + "\n", encoding="utf-8")
    out = tmp_path / "small.jsonl"
    first = run_cli([*BATCH, str(small), "-o", str(out), "--job", "good"], env)
    assert first.exit_code == 0, first.output
    before = out.read_bytes()
    assert len(before.splitlines()) == 21
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    other = tmp_path / "other.csv"
    other.write_text("sku\n" + "\n".join(IDS[25:28]) + "\n", encoding="utf-8")
    bad = run_cli([*BATCH, str(other), "-o", str(out), "--token", "jd_bad", "--job", "badtok"], env)
    assert bad.exit_code == 4, bad.output  # the token was refused
    assert out.read_bytes() == before
    assert "not written" in bad.stdout
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == ["home", "other.csv", "small.csv", "small.jsonl"]  # no .part left


def test_excel_output_from_batch_and_export(tmp_path: Path, env: dict[str, str]) -> None:
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(IDS[21:24]) + "\n", encoding="utf-8")
    out = tmp_path / "out.xlsx"
    result = run_cli([*BATCH, str(source), "-o", str(out), "--job", "xl"], env)
    assert result.exit_code == 0, result.output
    rows = xlsx_rows(out)
    assert sorted(row["sku_id"] for row in rows) == IDS[21:24]  # ids stay text
    assert all(isinstance(row["price_original"], float | None) for row in rows)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    exported = tmp_path / "again.xlsx"
    again = run_cli(["export", "xl", "-o", str(exported)], env)
    assert again.exit_code == 0, again.output

    def by_id(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(found, key=lambda row: str(row["sku_id"]))

    assert by_id(xlsx_rows(exported)) == by_id(rows)


def test_excel_without_the_extra_names_it_before_anything_happens(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "xlsxwriter", None)  # as if not installed
    source = tmp_path / "ids.txt"
    source.write_text(f"{IDS[24]}\n", encoding="utf-8")
    result = run_cli([*BATCH, str(source), "-o", str(tmp_path / "out.xlsx")], env)
    assert result.exit_code == 2
    assert "pip install 'jditem[excel]'" in result.stderr
    assert not (Path(env["JDITEM_HOME"]) / "jobs").exists()
    assert not (tmp_path / "out.xlsx").exists()


def test_a_rerun_says_the_job_already_holds_the_ids(tmp_path: Path, env: dict[str, str]) -> None:
    """Main said "12 id(s) repeated" for a 10-item job on a plain rerun."""
    source = tmp_path / "ids.txt"
    source.write_text("\n".join([*IDS[:10], *IDS[:2]]) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    first = run_cli([*BATCH, str(source), "-o", str(out), "--job", "twice"], env)
    assert first.exit_code == 0, first.output
    assert "2 rows of" in first.stderr
    assert "the job has 10 items" in first.stderr
    again = run_cli([*BATCH, str(source), "-o", str(out), "--job", "twice"], env)
    assert again.exit_code == 0, again.output
    assert "job twice already holds every id of" in again.stderr
    assert "(10 items)" in again.stderr
    assert "repeated" not in again.stderr
