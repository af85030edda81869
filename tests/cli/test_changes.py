"""``jditem changes`` and the rule options of ``jditem watch create|update`` against a real
server (loopback): events printed in order with the cursor to resume from, ``--since``
continuing without repeats, ``--follow`` as a real process that Ctrl-C ends with exit 0."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
from tests.support.cli_runs import JDITEM, process_env
from tests.support.live_server import LiveServer
from tests.support.monitoring import ITEM, Changer
from tests.support.waiting import wait_until
from typer.testing import CliRunner

from jditem.cli.app import build_app


@pytest.fixture(scope="module")
def server(changing_world: Changer) -> LiveServer:
    return changing_world.live


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("JDITEM_TOKEN", "JUSTONEAPI_TOKEN", "JDITEM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def jditem(runner: CliRunner, live: LiveServer, token: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        build_app(), [*args, "--base-url", live.base_url], env={"JDITEM_TOKEN": token}
    )
    assert token not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_rules_options_and_the_feed_with_its_cursor(
    server: LiveServer, changing_world: Changer, runner: CliRunner
) -> None:
    token = server.make_token("cli-changes")
    code, out, err = jditem(
        runner, server, token, "watch", "create", "deals", "--interval", "1h", "--budget", "5",
        ITEM, "--notify", "price_drop,back_in_stock", "--drop-pct", "5", "--cooldown", "0",
    )  # fmt: skip
    assert code == 0, err
    assert "notifies: price_drop, back_in_stock; drop >= 5 %; cooldown 0 s" in out
    code, out, err = jditem(runner, server, token, "watch", "update", "deals", "--drop-yuan", "2")
    assert code == 0, err
    assert "drop >= 5 %; drop >= ¥2; cooldown 0 s" in out  # the other rules stay
    code, _, err = jditem(runner, server, token, "watch", "update", "deals", "--notify", "cheap")
    assert code == 2
    assert "unknown kind(s) cheap" in err
    changing_world.observe(token, "699.00")  # the baseline
    changing_world.observe(token, "600.00")
    changing_world.observe(token, "598.00")
    code, out, err = jditem(runner, server, token, "changes")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    assert "price_drop,new_low  price_current 699.00->600.00  [notifies: deals]" in lines[0]
    assert "notifies" not in lines[1]  # a 2-yuan drop is below 5 %
    cursor = err.split("--since ")[1].split(")")[0]
    changing_world.observe(token, "500.00")
    code, out, err = jditem(runner, server, token, "changes", "--since", cursor, "--json")
    assert code == 0, err
    [event] = [json.loads(line) for line in out.splitlines()]
    assert event["changes"][0]["after"] == "500.00"
    assert event["ruleMatches"][0]["notify"] is True
    code, _, err = jditem(runner, server, token, "changes", "--list", "nope")
    assert code != 0
    assert "no watch list named 'nope'" in err


def test_follow_prints_new_events_and_ctrl_c_exits_cleanly(
    server: LiveServer, changing_world: Changer, tmp_path: Path
) -> None:
    token = server.make_token("cli-follow")
    changing_world.observe(token, "699.00")
    changing_world.observe(token, "650.00")
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    command = [
        JDITEM,
        "changes",
        "--follow",
        "--poll",
        "1",
        "--json",
        "--base-url",
        server.base_url,
    ]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        popen = subprocess.Popen(
            command,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            env={**process_env(tmp_path), "JDITEM_TOKEN": token},
        )
    try:
        wait_until(lambda: out.read_text().count("\n") == 1, what="the first event printed")
        changing_world.observe(token, "640.00")
        wait_until(lambda: out.read_text().count("\n") == 2, what="the next event printed")
        popen.send_signal(signal.SIGINT)
        assert popen.wait(timeout=60) == 0
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait(timeout=30)
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["changes"][0]["after"] for e in events] == ["650.00", "640.00"]
    assert f"--since {events[-1]['id']}" in err.read_text()
    assert "Traceback" not in err.read_text()
