"""``jditem get`` with several ids, stdin, ``--resume``, JSON errors, ``-v``; ``probe --json``.

Each failed on main before issue 11 (one id only; "call resume()" with no CLI way to
do it; "raise the timeout" naming no option; errors as text under ``--json``).
"""

from __future__ import annotations

import json
import shlex

import pytest
from tests.support.fault_server import FaultServer, Reply
from tests.support.live_server import LiveServer, live_server
from typer.testing import CliRunner

from jditem.cli.app import build_app

ITEMS = ["100012043978", "100000000001"]
SLOW = "100000000777"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("JDITEM_TOKEN", "JUSTONEAPI_TOKEN", "JDITEM_BASE_URL", "JDITEM_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_several_ids_and_stdin(server: LiveServer, runner: CliRunner) -> None:
    env = {"JDITEM_TOKEN": server.make_token()}
    args = ["get", "--json", "--base-url", server.base_url, ITEMS[0], "-"]
    result = runner.invoke(build_app(), args, env=env, input=f"{ITEMS[1]}\n\n")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["requested_id"], r["sku_id"]) for r in lines] == [(i, i) for i in ITEMS]


def test_json_errors_are_json_and_other_items_go_on(server: LiveServer, runner: CliRunner) -> None:
    env = {"JDITEM_TOKEN": server.make_token()}
    args = ["get", "--json", "--base-url", server.base_url, "100000000202", ITEMS[0]]
    result = runner.invoke(build_app(), args, env=env)
    assert result.exit_code == 1
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["error"]["code"] == 202
    assert first["error"]["item_id"] == "100000000202"
    assert first["error"]["message"].count("retrying will not help") == 1
    assert second["sku_id"] == ITEMS[0]

    alone = runner.invoke(build_app(), ["get", "--json", "not-an-id"], env=env)
    assert alone.exit_code == 2
    assert json.loads(alone.stdout)["error"]["type"] == "UsageError"


def test_pending_prints_a_continuation_that_get_resume_accepts(runner: CliRunner) -> None:
    with live_server(sandbox_latency_ms=(1500, 1500), wait_seconds=0.0) as live:
        env = {"JDITEM_TOKEN": live.make_token()}
        base = ["--base-url", live.base_url]
        pending = runner.invoke(build_app(), ["get", SLOW, "--max-calls", "1", *base], env=env)
        assert pending.exit_code == 1, pending.output
        assert "resume()" not in pending.stderr
        command = pending.stderr.split("Continue waiting with: ", 1)[1].strip()
        argv = shlex.split(command)
        assert argv[:3] == ["jditem", "get", "--resume"]
        resumed = runner.invoke(build_app(), [*argv[1:], "--json", "--deadline", "120"], env=env)
        assert resumed.exit_code == 0, resumed.output
        assert json.loads(resumed.stdout)["sku_id"] == SLOW

        as_json = runner.invoke(
            build_app(), ["get", "100000000778", "--max-calls", "1", "--json", *base], env=env
        )
        error = json.loads(as_json.stdout)["error"]
        assert error["type"] == "PendingTimeoutError"
        assert json.loads(error["continuation"])["itemId"] == "100000000778"


def test_a_read_timeout_names_the_timeout_option(runner: CliRunner) -> None:
    with FaultServer([Reply.envelope(0, {}, delay=5.0)]) as fault:
        args = [
            "get",
            ITEMS[0],
            "--base-url",
            fault.base_url,
            "--timeout",
            "0.2",
            "--max-calls",
            "1",
        ]
        result = runner.invoke(build_app(), args, env={"JDITEM_TOKEN": "tok_fake_123456"})
    assert result.exit_code == 1
    assert "raise --timeout (now 0.2 s)" in result.stderr


def test_verbose_shows_calls_and_waits(runner: CliRunner) -> None:
    script = [
        Reply.envelope(302, status=429, headers={"Retry-After": "0"}),
        Reply.envelope(202, message="not supported"),
    ]
    with FaultServer(script) as fault:
        args = ["get", ITEMS[0], "--base-url", fault.base_url, "-v"]
        result = runner.invoke(build_app(), args, env={"JDITEM_TOKEN": "tok_fake_123456"})
    assert result.exit_code == 1
    assert "code 302" in result.stderr
    assert "retrying in" in result.stderr
    assert "tok_fake_123456" not in result.stderr
    with FaultServer([Reply.envelope(202, message="not supported")]) as fault:
        args = ["get", ITEMS[0], "--base-url", fault.base_url]
        quiet = runner.invoke(build_app(), args, env={"JDITEM_TOKEN": "tok_fake_123456"})
    assert quiet.stderr.startswith("Error: ")  # -v ended with its command
    assert "jditem.client" not in quiet.stderr


def test_probe_says_it_may_be_charged_and_has_json(server: LiveServer, runner: CliRunner) -> None:
    token = server.make_token()
    args = ["probe", ITEMS[0], "--json", "--base-url", server.base_url]
    result = runner.invoke(build_app(), args, env={"JDITEM_TOKEN": token})
    assert result.exit_code == 0, result.output
    assert "charged" in result.stderr
    data = json.loads(result.stdout)
    assert data["http_status"] == 200
    assert data["classification"]["outcome"] == "ready"
    assert data["body"]["code"] == 0
    assert token not in result.stdout
