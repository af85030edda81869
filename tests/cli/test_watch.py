"""``jditem watch`` against a real server (loopback): every subcommand, clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.live_server import LiveServer, live_server
from typer.testing import CliRunner

from jditem.cli.app import build_app


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server(watch_scheduler=False, watch_min_interval_seconds=60) as live:
        yield live


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("JDITEM_TOKEN", "JUSTONEAPI_TOKEN", "JDITEM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def watch(runner: CliRunner, server: LiveServer, token: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        build_app(), ["watch", *args, "--base-url", server.base_url], env={"JDITEM_TOKEN": token}
    )
    assert token not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_watch_commands_end_to_end(server: LiveServer, runner: CliRunner, tmp_path: Path) -> None:
    token = server.make_token("cli-watch")
    code, out, err = watch(
        runner, server, token, "create", "tv", "--interval", "1h", "--budget", "5", "100012043978"
    )
    assert code == 0, err
    assert "3600 s" in out
    assert "¥5.0000 a day" in out
    items = tmp_path / "items.csv"
    items.write_text("sku,note\n100000000001,a\nhttps://item.jd.com/100000000002.html,b\nx,c\n")
    code, out, err = watch(runner, server, token, "add", "tv", "--file", str(items))
    assert code == 0, err
    assert "added 2, already there 0, skipped 1" in out
    assert "skipped line 4" in err
    code, out, _ = watch(runner, server, token, "list", "--json")
    listed = json.loads(out)
    assert [(wl["name"], wl["status"]["items"]) for wl in listed] == [("tv", 3)]
    code, out, _ = watch(runner, server, token, "list")
    assert code == 0
    assert "tv" in out
    assert "active" in out
    code, out, _ = watch(runner, server, token, "pause", "tv")
    assert code == 0
    assert "paused (user)" in out
    code, out, _ = watch(runner, server, token, "resume", "tv")
    assert code == 0
    assert "active" in out
    code, out, _ = watch(runner, server, token, "show", "tv", "--json")
    assert json.loads(out)["status"]["items"] == 3
    code, out, _ = watch(runner, server, token, "remove", "tv", "100000000001")
    assert code == 0
    assert "removed 1 of 1" in out
    code, _, err = watch(runner, server, token, "delete", "tv")
    assert code == 2
    assert "--yes" in err
    code, out, _ = watch(runner, server, token, "delete", "tv", "--yes")
    assert code == 0
    assert "deleted tv" in out


def test_watch_errors_are_one_clear_line(server: LiveServer, runner: CliRunner) -> None:
    token = server.make_token("cli-watch-errors")
    code, _, err = watch(runner, server, token, "show", "nope")
    assert code == 1
    assert err.startswith("Error: no watch list named 'nope'")
    code, _, err = watch(runner, server, token, "create", "x", "--interval", "5", "--budget", "1")
    assert code == 1
    assert "intervalSeconds must be between 60" in err
    code, _, err = watch(
        runner, server, token, "create", "x", "--interval", "soon", "--budget", "1"
    )
    assert code == 2
    assert "--interval 'soon'" in err
    code, _, err = watch(runner, server, token, "add", "x", "not-an-item")
    assert code == 2
    assert "neither an item id" in err
    code, _, err = watch(runner, server, "wrong-token", "list")
    assert code == 4
    assert err.startswith("Error:")


def test_an_adaptive_list_from_the_command_line(server: LiveServer, runner: CliRunner) -> None:
    token = server.make_token("cli-watch-adaptive")
    code, out, err = watch(
        runner,
        server,
        token,
        "create",
        "deals",
        "--adaptive",
        "--min",
        "10m",
        "--max",
        "1d",
        "--budget",
        "5",
        "100012043978",
    )
    assert code == 0, err
    assert "adaptive, 600 s to 86400 s" in out
    assert "0 charges per change" not in out  # no change yet: shown as '-'
    code, out, err = watch(runner, server, token, "update", "deals", "--within", "2h")
    assert code == 0, err
    assert "notice within 7200 s" in out
    code, out, err = watch(runner, server, token, "update", "deals", "--interval", "1h")
    assert code == 0, err
    assert "every 3600 s" in out
    for args, says in (
        (("create", "x", "--budget", "1"), "give --interval 1h (fixed) or --adaptive"),
        (("create", "x", "--adaptive", "--budget", "1"), "--adaptive needs --min and --max"),
        (("create", "x", "--interval", "1h", "--min", "10m", "--budget", "1"), "drop --min"),
        (("create", "x", "--adaptive", "--min", "soon", "--max", "1d", "--budget", "1"), "--min"),
        (("update", "deals"), "nothing to change"),
    ):
        code, _, err = watch(runner, server, token, *args)
        assert code == 2, (args, err)
        assert says in err
    code, _, err = watch(runner, server, token, "update", "deals", "--min", "10m")
    assert code == 1
    assert "needs both minIntervalSeconds and maxIntervalSeconds" in err
