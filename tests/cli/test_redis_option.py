"""``--redis`` / ``JDITEM_REDIS_URL`` on every command that takes it (``serve``, ``worker``).

A malformed URL or a missing ``redis`` package is one ``error:`` line (exit 2) before
anything is created or printed; a Redis that does not answer at start is a WARNING on
stderr naming the URL (password masked), and the process starts anyway (SPEC §2.8) with
``/api/health`` degraded.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.support.processes import free_port
from tests.support.waiting import wait_until
from typer.testing import CliRunner

from jditem.cli.app import build_app

COMMANDS = (("serve", "--port", "0"), ("worker",))
BAD_URLS = (
    ("localhost:6379", "did you mean redis://localhost:6379?"),
    ("redis://:6379x", "the port in 'redis://:6379x' is not a number"),
    ("redis://:s3cret@localhost:6379/cache", "is not a number (e.g. /0)"),
    ("http://localhost:6379", "unsupported Redis URL scheme 'http://'"),
    ("redis://localhost?socket_timeout=soon", "socket_timeout"),
)


def _run(tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    environment = {"JDITEM_HOME": str(tmp_path), "JDITEM_DATABASE_URL": "", **env}
    result = CliRunner().invoke(build_app(), list(args), env=environment)
    return result.exit_code, result.stdout, result.stderr


def _refused_cleanly(tmp_path: Path, code: int, out: str, err: str) -> None:
    assert code == 2, (out, err)
    assert out == ""  # no "Serving on", no demo token
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert not (tmp_path / "server.db").exists()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize(("url", "says"), BAD_URLS, ids=[u for u, _ in BAD_URLS])
def test_a_malformed_redis_url_is_one_line_naming_the_forms(
    tmp_path: Path, command: tuple[str, ...], url: str, says: str
) -> None:
    code, out, err = _run(tmp_path, *command, "--redis", url)
    _refused_cleanly(tmp_path, code, out, err)
    assert says in err
    assert err.startswith("error: --redis / JDITEM_REDIS_URL: ")
    for form in ("redis://", "rediss://", "unix://"):
        assert form in err
    assert "s3cret" not in err


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_the_environment_variable_is_checked_the_same_way(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    code, out, err = _run(tmp_path, *command, JDITEM_REDIS_URL="redis://:s3cret@localhost:x")
    _refused_cleanly(tmp_path, code, out, err)
    assert "JDITEM_REDIS_URL" in err
    assert "s3cret" not in err


WITHOUT_REDIS = """
import sys
sys.modules["redis"] = None  # as if jditem[scale] were not installed
from jditem.cli.app import main
sys.argv = ["jditem", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_redis_without_the_package_names_the_extra_before_anything_happens(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_REDIS, *command, "--redis", "redis://127.0.0.1:6379/0"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"JDITEM_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    _refused_cleanly(tmp_path, done.returncode, done.stdout, done.stderr)
    assert "pip install 'jditem[scale]'" in done.stderr


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[bytes], Path, Path]:
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("jditem")), *args],
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            env={"JDITEM_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        )
    return proc, out, err


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _warned(err: Path, url_shown: str) -> str:
    lines = [
        line
        for line in err.read_text(errors="replace").splitlines()
        if line.startswith("WARNING") and url_shown in line and "unreachable at startup" in line
    ]
    return lines[0] if lines else ""


def test_serve_with_an_unreachable_redis_warns_starts_and_reports_degraded(
    tmp_path: Path,
) -> None:
    dead = free_port()  # nothing listens there
    port = free_port()
    url = f"redis://:s3cret@127.0.0.1:{dead}/0"
    proc, out, err = _start(tmp_path, "serve", "--port", str(port), "--redis", url)
    try:
        shown = f"redis://***@127.0.0.1:{dead}/0"
        wait_until(lambda: _warned(err, shown) or proc.poll() is not None, what="the warning")
        assert _warned(err, shown), err.read_text()
        health_url = f"http://127.0.0.1:{port}/api/health"

        def degraded() -> dict[str, object] | None:
            try:
                data: dict[str, object] = httpx.get(health_url, timeout=10).json()["data"]
            except httpx.HTTPError:
                return None
            return data

        data = wait_until(degraded, what="the server to answer")
        assert data["status"] == "degraded"
        assert data["redis"] == "unreachable"
    finally:
        _stop(proc)
    text = out.read_text() + err.read_text()
    assert "s3cret" not in text
    assert "Traceback" not in text
    assert f"shared state in Redis {shown}" in out.read_text()


def test_worker_with_an_unreachable_redis_warns_and_runs(tmp_path: Path) -> None:
    dead = free_port()
    url = f"redis://:s3cret@127.0.0.1:{dead}/0"
    proc, out, err = _start(tmp_path, "worker", "--workers", "1", "--redis", url)
    try:
        wait_until(
            lambda: "worker ready" in out.read_text() or proc.poll() is not None,
            what="the worker to start",
        )
        assert proc.poll() is None, err.read_text()
        assert _warned(err, f"redis://***@127.0.0.1:{dead}/0"), err.read_text()
    finally:
        _stop(proc)
    assert "s3cret" not in out.read_text() + err.read_text()
