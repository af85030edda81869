"""``jditem batch`` inputs, job identity and outputs, against the real server (loopback).

Each test here failed on main before issue 11: CSV/JSONL columns, an empty input that
exited 0, stdin runs sharing one job, an edited input delivering old ids, ``-o``
replacing any file, ``.xlsx`` receiving JSON Lines, ``--retry-failed`` repeating the
cached "not supported" verdict with zero calls.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.support.cli_runs import BATCH, run_cli
from tests.support.live_server import LiveServer

IDS = [str(100_000_000_000 + i) for i in range(1, 13)]
UNSUPPORTED = "100000000099"


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def calls(server: LiveServer) -> int:
    server.flush()
    return int(server.scalar("SELECT count(*) FROM call_records"))


def test_csv_input_reads_the_named_or_default_column_urls_included(
    tmp_path: Path, env: dict[str, str]
) -> None:
    source = tmp_path / "skus.csv"
    source.write_text(
        f"name,url,price\na,https://item.jd.com/{IDS[0]}.html,1\nb,{IDS[1]},2\nc,not-a-url,3\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    result = run_cli([*BATCH, str(source), "-o", str(out)], env)
    assert result.exit_code == 0, result.output
    assert sorted(r["requested_id"] for r in rows(out)) == IDS[:2]
    assert "line 4: 'not-a-url'" in result.stderr

    named = tmp_path / "named.csv"
    named.write_text(f"sku_name,jd\nx,{IDS[2]}\ny,{IDS[3]}\n", encoding="utf-8")
    out2 = tmp_path / "out2.jsonl"
    result = run_cli([*BATCH, str(named), "-o", str(out2), "--id-column", "jd"], env)
    assert result.exit_code == 0, result.output
    assert sorted(r["requested_id"] for r in rows(out2)) == IDS[2:4]

    bad = run_cli([*BATCH, str(named), "-o", str(out2), "--id-column", "nope", "--job", "x"], env)
    assert bad.exit_code == 2
    assert "no column 'nope'" in bad.stderr
    assert "sku_name" in bad.stderr


def test_jsonl_input_and_stdin_sniffing(tmp_path: Path, env: dict[str, str]) -> None:
    source = tmp_path / "items.jsonl"
    source.write_text(
        json.dumps({"skuId": IDS[4]}) + "\n" + json.dumps({"skuId": int(IDS[5])}) + "\n{oops\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    result = run_cli([*BATCH, str(source), "-o", str(out)], env)
    assert result.exit_code == 0, result.output
    assert "line 3: '{oops' is not valid JSON" in result.stderr
    assert sorted(line.split(",")[0] for line in out.read_text().splitlines()[1:]) == IDS[4:6]

    out2 = tmp_path / "stdin.jsonl"
    piped = json.dumps({"url": f"https://item.jd.com/{IDS[6]}.html"}) + "\n"
    result = run_cli([*BATCH, "-", "-o", str(out2)], env, stdin=piped)
    assert result.exit_code == 0, result.output
    assert [r["requested_id"] for r in rows(out2)] == [IDS[6]]


def test_nothing_valid_is_an_error_and_leaves_no_job(tmp_path: Path, env: dict[str, str]) -> None:
    source = tmp_path / "junk.txt"
    source.write_text("hello\nworld\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run_cli([*BATCH, str(source), "-o", str(out)], env)
    assert result.exit_code == 2
    assert "no item id read from" in result.stderr
    assert "all 2 rows were invalid" in result.stderr
    assert not out.exists()
    assert not list((Path(env["JDITEM_HOME"]) / "jobs").glob("*.sqlite"))

    empty = run_cli([*BATCH, "-", "-o", str(out)], env, stdin="")
    assert empty.exit_code == 2
    assert "it is empty" in empty.stderr


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_a_missing_or_directory_input_is_one_line_and_creates_nothing(
    tmp_path: Path, env: dict[str, str], kind: str
) -> None:
    target = tmp_path / "in"
    if kind == "directory":
        target.mkdir()
    out = tmp_path / "out.jsonl"
    result = run_cli([*BATCH, str(target), "-o", str(out)], env)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert ("is a directory" if kind == "directory" else "does not exist") in result.stderr
    assert not Path(env["JDITEM_HOME"]).exists()
    assert not out.exists()


def test_two_unrelated_stdin_runs_do_not_share_a_job(tmp_path: Path, env: dict[str, str]) -> None:
    first = tmp_path / "first.jsonl"
    second = tmp_path / "second.jsonl"
    assert run_cli([*BATCH, "-", "-o", str(first)], env, stdin=f"{IDS[0]}\n").exit_code == 0
    result = run_cli([*BATCH, "-", "-o", str(second)], env, stdin=f"{IDS[1]}\n")
    assert result.exit_code == 0, result.output
    assert [r["sku_id"] for r in rows(second)] == [IDS[1]]


def test_an_edited_input_starts_afresh_unless_resumed(
    server: LiveServer, tmp_path: Path, env: dict[str, str]
) -> None:
    source = tmp_path / "ids.txt"
    out = tmp_path / "out.jsonl"
    source.write_text("\n".join(IDS[:3]) + "\n", encoding="utf-8")
    assert run_cli([*BATCH, str(source), "-o", str(out)], env).exit_code == 0
    source.write_text("\n".join(IDS[2:5]) + "\n", encoding="utf-8")
    before = calls(server)
    result = run_cli([*BATCH, str(source), "-o", str(out)], env)
    assert result.exit_code == 0, result.output
    assert "changed since job" in result.stderr
    assert sorted(r["sku_id"] for r in rows(out)) == IDS[2:5]
    assert calls(server) - before == 2  # IDS[2] came from the local cache

    source.write_text(f"{IDS[5]}\n", encoding="utf-8")
    resumed = run_cli([*BATCH, str(source), "-o", str(out), "--resume"], env)
    assert resumed.exit_code == 0, resumed.output
    assert sorted(r["sku_id"] for r in rows(out)) == IDS[2:6]


def test_output_guard_format_and_csv_bom(tmp_path: Path, env: dict[str, str]) -> None:
    source = tmp_path / "ids.txt"
    source.write_text(f"{IDS[7]}\n", encoding="utf-8")
    mine = tmp_path / "report.csv"
    mine.write_text("my own work\n", encoding="utf-8")
    refused = run_cli([*BATCH, str(source), "-o", str(mine)], env)
    assert refused.exit_code == 2
    assert "was not written by jditem" in refused.stderr
    assert "--force" in refused.stderr
    assert mine.read_text(encoding="utf-8") == "my own work\n"

    forced = run_cli([*BATCH, str(source), "-o", str(mine), "--force", "--csv-bom"], env)
    assert forced.exit_code == 0, forced.output
    assert mine.read_bytes().startswith(b"\xef\xbb\xbfrequested_id,")
    again = run_cli([*BATCH, str(source), "-o", str(mine)], env)  # jditem wrote it: fine
    assert again.exit_code == 0, again.output
    # a journal from before the output registry: its own stored output is still its own
    (Path(env["JDITEM_HOME"]) / "outputs.sqlite").unlink()
    older = run_cli([*BATCH, str(source), "-o", str(mine)], env)
    assert older.exit_code == 0, older.output

    unknown = run_cli([*BATCH, str(source), "-o", str(tmp_path / "out.xls")], env)
    assert unknown.exit_code == 2
    assert "cannot tell the output format" in unknown.stderr
    assert not (tmp_path / "out.xls").exists()


def test_retry_failed_asks_the_server_again_after_202(
    server: LiveServer, tmp_path: Path, env: dict[str, str]
) -> None:
    source = tmp_path / "ids.txt"
    source.write_text(f"{IDS[8]}\n{UNSUPPORTED}\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    first = run_cli([*BATCH, str(source), "-o", str(out), "--job", "r202"], env)
    assert first.exit_code == 1
    advice = next(line for line in first.stdout.splitlines() if "--retry-failed" in line)
    command = advice.split("with: ", 1)[1].split(" (", 1)[0]
    assert command == "jditem batch --job r202 --resume --retry-failed"
    before = calls(server)
    again = run_cli([*command.split()[1:], "--progress", "none"], env)
    assert again.exit_code == 1
    assert calls(server) > before  # the printed command really asked again


def test_jobs_list_show_remove(tmp_path: Path, env: dict[str, str]) -> None:
    source = tmp_path / "ids.txt"
    source.write_text(f"{IDS[9]}\n", encoding="utf-8")
    made = run_cli([*BATCH, str(source), "-o", str(tmp_path / "o.jsonl"), "--job", "j1"], env)
    assert made.exit_code == 0
    listed = run_cli(["jobs", "--json"], env)
    assert listed.exit_code == 0
    assert [(j["job"], j["total"], j["done"]) for j in json.loads(listed.stdout)] == [("j1", 1, 1)]
    shown = run_cli(["jobs", "show", "j1"], env)
    assert shown.exit_code == 0
    assert "1 done" in shown.stdout
    assert run_cli(["jobs", "show", "nope"], env).exit_code == 2
    removed = run_cli(["jobs", "remove", "j1", "--yes"], env)
    assert removed.exit_code == 0
    assert json.loads(run_cli(["jobs", "--json"], env).stdout) == []
    gone = run_cli(["batch", "--job", "j1", "--resume"], env)
    assert gone.exit_code == 2
    assert "jditem jobs" in gone.stderr
