"""``jditem serve`` start-up checks: every setting and the port are checked before
anything is created or printed."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jditem.cli.app import build_app
from jditem.server.settings import admin_key_problem, estimated_entropy_bits


def _serve(tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    environment = {"JDITEM_HOME": str(tmp_path), "JDITEM_DATABASE_URL": "", **env}
    result = CliRunner().invoke(build_app(), ["serve", *args], env=environment)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JDITEM_TIMEZONE": "Mars/Olympus"}, "JDITEM_TIMEZONE: unknown time zone"),
        ({"JDITEM_ADMIN_KEY": "secret"}, "JDITEM_ADMIN_KEY: too weak"),
        ({"JDITEM_ADMIN_KEY": "ab" * 20}, "too predictable"),
        ({"JDITEM_PRICE_UNITS": "-1"}, "JDITEM_PRICE_UNITS"),
        ({"JDITEM_MAX_CONNECTIONS": "0"}, "JDITEM_MAX_CONNECTIONS"),
        ({"JDITEM_SANDBOX_LATENCY_MS": "[500, 100]"}, "JDITEM_SANDBOX_LATENCY_MS"),
    ],
)
def test_a_bad_setting_stops_the_start_before_anything_is_created(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    code, out, err = _serve(tmp_path, "--port", "0", **env)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert out == ""  # no "Serving", no demo token
    assert not (tmp_path / "server.db").exists()


def test_a_weak_key_message_says_how_to_make_one(tmp_path: Path) -> None:
    _code, _out, err = _serve(tmp_path, "--port", "0", JDITEM_ADMIN_KEY="x" * 40)
    assert "secrets.token_urlsafe(32)" in err


def test_a_port_in_use_is_reported_before_anything_is_created(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = _serve(tmp_path, "--port", str(port))
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "--port" in err
    assert out == ""  # the one-time demo token was not printed (and not created)
    assert not (tmp_path / "server.db").exists()


def test_admin_key_strength_rules() -> None:
    import secrets

    assert admin_key_problem(secrets.token_urlsafe(32)) is None
    for _ in range(50):
        assert admin_key_problem(secrets.token_hex(16)) is None
    # a random hex key whose estimate was 95.7 bits: refused by the old 96-bit floor
    assert admin_key_problem("7fa3ce1c5ccec3ceccd7fc5d3aeaee2f") is None
    assert admin_key_problem("0123456789" * 4) is not None
    assert estimated_entropy_bits("") == 0.0


PORT_PROBE = """
import sys
import typer
from jditem.cli.app import build_app
try:
    typer.main.get_command(build_app()).main(sys.argv[1:], prog_name="jditem")
except SystemExit as exc:
    print("exit", exc.code, "server modules imported:", "jditem.server.app" in sys.modules)
"""


def test_a_port_in_use_is_said_before_any_slow_step(tmp_path: Path) -> None:
    """The port is bound first: before the server's modules are imported (about a second
    of CPU, many on a busy machine) and before the relay's start check, which may wait
    out its 10 s timeout. Here the upstream is the taken port itself, a socket that never
    answers: ``serve`` must not even connect to it."""
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        relay = ["--collector", "relay", "--upstream", f"http://127.0.0.1:{port}"]
        done = subprocess.run(
            [sys.executable, "-c", PORT_PROBE, "serve", "--port", str(port), *relay],
            capture_output=True,
            text=True,
            timeout=120,
            env={
                "JDITEM_HOME": str(tmp_path),
                "JDITEM_UPSTREAM_TOKEN": "upstream-token-for-the-test",
                "PATH": "/usr/bin:/bin",
            },
        )
        taken.setblocking(False)
        try:
            conn, _ = taken.accept()
        except BlockingIOError:
            asked = False  # nobody connected: the upstream was not asked
        else:
            conn.close()
            asked = True
    assert not asked
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr, done.stderr
    assert done.stdout.strip() == "exit 1 server modules imported: False"
    assert not (tmp_path / "server.db").exists()
