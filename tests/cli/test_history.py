"""``jditem history`` against the real server: the table and sparkline, --json, export to
CSV/JSONL/Parquet (formula-safe, 0600), and clear errors without tracebacks."""

from __future__ import annotations

import csv
import json
import stat
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from tests.support.clock import FrozenClock
from tests.support.live_server import LiveServer, live_server
from tests.support.monitoring import ITEM, T0, ScriptedCollector
from typer.testing import CliRunner

from jditem.cli.app import build_app

EVIL = '=HYPERLINK("http://evil.example","x")'


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    collector, clock = ScriptedCollector(), FrozenClock(T0)
    with live_server(clock=clock, collector=collector, result_ttl_seconds=0) as live:
        token = live.make_token("seen")
        for n, price in enumerate(("699.00", "6??", "649.00", "599.00")):
            collector.set(ITEM, price)
            if n == 3:
                collector.payloads[ITEM]["product"]["skuName"] = EVIL
            clock.set(T0 + timedelta(hours=n))
            assert live.get(ITEM, token).json()["code"] == 0
        live.app.state.history_token = token
        yield live


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("JDITEM_TOKEN", "JUSTONEAPI_TOKEN", "JDITEM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def invoke(runner: CliRunner, server: LiveServer, *args: str) -> tuple[int, str, str]:
    token: str = server.app.state.history_token
    argv = ["history", *args, "--base-url", server.base_url]
    result = runner.invoke(build_app(), argv, env={"JDITEM_TOKEN": token})
    assert token not in result.stdout + result.stderr, "token leaked"
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_a_table_and_a_sparkline(server: LiveServer, runner: CliRunner) -> None:
    code, out, err = invoke(runner, server, f"https://item.jd.com/{ITEM}.html")
    assert code == 0, err
    assert f"History of item {ITEM}" in out
    for text in ("¥699.00", "masked", "¥649.00", "¥599.00", "in stock"):
        assert text in out
    [line] = [row for row in out.splitlines() if row.startswith("Price ")]
    assert "low ¥599.00" in line
    assert "high ¥699.00" in line
    assert any(block in line for block in "▁▂▃▄▅▆▇█")
    code, out, _ = invoke(runner, server, ITEM, "--ascii")
    assert code == 0
    assert "█" not in out


def test_json_is_the_wire_history(server: LiveServer, runner: CliRunner) -> None:
    code, out, err = invoke(runner, server, ITEM, "--json", "--limit", "2")
    assert code == 0, err
    data = json.loads(out)
    assert [p["priceCurrent"] for p in data["points"]] == ["649.00", "599.00"]
    assert data["hasMore"] is True


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_export_by_extension(
    server: LiveServer, runner: CliRunner, tmp_path: Path, suffix: str
) -> None:
    target = tmp_path / f"history{suffix}"
    code, _, err = invoke(runner, server, ITEM, "-o", str(target))
    assert code == 0, err
    assert f"wrote 4 change point(s) of item {ITEM}" in err
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    if suffix == ".csv":
        rows = list(csv.DictReader(target.read_text(encoding="utf-8").splitlines()))
        assert [r["price_current"] for r in rows] == ["699.00", "", "649.00", "599.00"]
        assert rows[1]["price_masked"] == "true"
        assert rows[3]["title"] == "'" + EVIL  # never run as a formula
    elif suffix == ".jsonl":
        rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
        assert [r["price_current"] for r in rows] == ["699.00", None, "649.00", "599.00"]
        assert rows[3]["title"] == EVIL  # read by programs: exact
        assert datetime.fromisoformat(rows[2]["valid_from"]) == T0 + timedelta(hours=2)
    else:
        pq = pytest.importorskip("pyarrow.parquet")
        table = pq.read_table(target).to_pylist()
        assert [r["price_current"] for r in table] == [
            Decimal("699.00"),
            None,
            Decimal("649.00"),
            Decimal("599.00"),
        ]
        assert table[0]["valid_from"] == T0


def test_an_item_never_received(server: LiveServer, runner: CliRunner) -> None:
    code, out, err = invoke(runner, server, "100000000001")
    assert code == 0, err
    assert "No history for item 100000000001 yet" in out


@pytest.mark.parametrize(
    ("args", "exit_code", "words"),
    [
        (("not-an-item",), 2, "neither an item id"),
        ((ITEM, "-o", "history.xlsx"), 2, "name the file *.csv, *.jsonl or *.parquet"),
        ((ITEM, "--since", "last week"), 1, "since='last week' is not a date or time"),
        ((ITEM, "--limit", "0"), 2, "--limit"),
    ],
)
def test_bad_input_is_a_clear_error(
    server: LiveServer, runner: CliRunner, args: tuple[str, ...], exit_code: int, words: str
) -> None:
    code, out, err = invoke(runner, server, *args)
    assert code == exit_code
    assert words in out + err


def test_a_wrong_token_says_so(server: LiveServer, runner: CliRunner) -> None:
    result = runner.invoke(
        build_app(),
        ["history", ITEM, "--base-url", server.base_url],
        env={"JDITEM_TOKEN": "jdi_wrong_token_for_history"},
    )
    assert result.exit_code == 4
    assert "Error:" in result.stderr
    assert "token" in result.stderr
