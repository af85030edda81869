"""``jditem mcp`` start-up: a clear error and exit code for each mistake, before serving."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jditem.cli.app import build_app
from tests.support.mcp_agent import run_command, server_env


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    for name in ("JDITEM_TOKEN", "JUSTONEAPI_TOKEN", "JDITEM_BASE_URL", "JDITEM_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JDITEM_CONFIG", str(tmp_path / "none.toml"))
    return CliRunner()


def invoke(runner: CliRunner, *args: str, token: str | None = "t0ken-for-start") -> tuple[int, str]:
    env = {"JDITEM_TOKEN": token} if token else {}
    result = runner.invoke(build_app(), ["mcp", *args], env=env)
    return result.exit_code, result.stderr


def test_no_token_is_a_start_up_error(tmp_path: Path) -> None:
    """A real process: nothing is served, stdout stays empty (it is the protocol's)."""
    done = run_command(["mcp"], server_env(None, tmp_path))
    assert done.returncode == 2
    assert "no API token" in done.stderr
    assert "JDITEM_TOKEN" in done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--max-spend-yuan", "lots"], "--max-spend-yuan 'lots' is not an amount in yuan"),
        (["--price-yuan", "-0.01"], "--price-yuan '-0.01' is not an amount in yuan"),
        (["--http", "--host", "0.0.0.0"], "not a loopback address"),
        (["--base-url", "http://example.com"], "--insecure"),
    ],
)
def test_bad_options_are_usage_errors(runner: CliRunner, args: list[str], says: str) -> None:
    code, err = invoke(runner, *args)
    assert code == 2
    assert says in err
    assert "t0ken-for-start" not in err


def test_a_port_in_use_is_reported(runner: CliRunner) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, err = invoke(runner, "--http", "--port", str(port))
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err


def test_without_the_sdk_the_error_names_the_extra(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mcp" else real(name, *a)
    )
    code, err = invoke(runner)
    assert code == 2
    assert "pip install 'jditem[mcp]'" in err
