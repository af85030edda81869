"""``jditem dev services``: a throwaway PostgreSQL + Redis, started, used and stopped for
real — as this user (root in CI: PostgreSQL then runs as ``postgres``) and, when the
tests run as root, as an unprivileged user too."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
import redis
import typer
from tests.conftest import services_required
from tests.support.cli_runs import JDITEM
from tests.support.waiting import wait_until

import jditem

#: initdb takes 1-8 s on a busy machine; start-up as a whole gets far more.
START_TIMEOUT = 240


@pytest.fixture(autouse=True)
def _binaries() -> None:
    from jditem.server.devservices.postgres import find_bindir

    missing = [
        name
        for name, found in (
            ("PostgreSQL (initdb, pg_ctl)", find_bindir()),
            ("redis-server", shutil.which("redis-server")),
        )
        if not found
    ]
    if missing:
        message = f"jditem dev services needs {', '.join(missing)}"
        if services_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def parse_exports(text: str) -> dict[str, str]:
    """The ``export NAME=VALUE`` lines of stdout, as a dict (shell-unquoted)."""
    exports = {}
    for line in text.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            exports[name] = shlex.split(value)[0]
    return exports


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "JDITEM_HOME": str(tmp_path), **extra}


def run(
    prefix: tuple[str, ...], *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """``PREFIX ARGS`` (``prefix`` runs jditem), bounded, output captured as text."""
    return subprocess.run(
        [*prefix, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=START_TIMEOUT,
        cwd="/tmp",
    )


def _pids(root: Path) -> list[int]:
    """The postmaster's and redis-server's process ids, from their pid files."""
    postmaster = (root / "postgresql" / "data" / "postmaster.pid").read_text().split()[0]
    return [int(postmaster), int((root / "redis" / "redis.pid").read_text().strip())]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _use(exports: dict[str, str], tmp_path: Path, prefix: tuple[str, ...] = ()) -> None:
    """Connect as a user would: an admin command on the database, PING on Redis."""
    env = _env(tmp_path, **{k: v for k, v in exports.items() if k.startswith("JDITEM_")})
    done = run(prefix, "admin", "account", "create", "trying", "--balance", "5", env=env)
    assert done.returncode == 0, done.stderr
    assert exports["JDITEM_DATABASE_URL"].startswith("postgresql://")
    with redis.Redis.from_url(exports["JDITEM_REDIS_URL"], socket_timeout=10) as client:
        assert client.ping()


def test_detached_services_start_connect_and_stop(tmp_path: Path) -> None:
    started = run((JDITEM,), "dev", "services", "--detach", env=_env(tmp_path))
    assert started.returncode == 0, started.stderr
    exports = parse_exports(started.stdout)
    assert set(exports) == {"JDITEM_DATABASE_URL", "JDITEM_REDIS_URL", "JDITEM_DEV_SERVICES"}
    assert started.stdout.count("\n") == 3  # stdout is only the exports: eval-able
    root = Path(exports["JDITEM_DEV_SERVICES"])
    try:
        assert root.parent == Path("/tmp")
        assert root.stat().st_mode & 0o777 == 0o755
        assert exports["JDITEM_REDIS_URL"].startswith(f"unix://{root}/")
        assert f"?host={root}/" in exports["JDITEM_DATABASE_URL"]
        assert f"jditem dev stop {root}" in started.stderr
        assert "jditem serve --processes 2 --workers 0" in started.stderr
        _use(exports, tmp_path, (JDITEM,))
        pids = _pids(root)
    finally:
        stopped = run((JDITEM,), "dev", "stop", env=_env(tmp_path, JDITEM_DEV_SERVICES=str(root)))
    assert stopped.returncode == 0, stopped.stderr
    assert not root.exists()
    for pid in pids:
        wait_until(lambda pid=pid: _gone(pid), what=f"process {pid} to exit")


def test_in_the_foreground_ctrl_c_stops_and_deletes(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with out.open("wb") as stdout:
        proc = subprocess.Popen(
            [JDITEM, "dev", "services"],
            stdout=stdout,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=_env(tmp_path),
        )
    try:
        exports = wait_until(
            lambda: len(parse_exports(out.read_text())) == 3 and parse_exports(out.read_text()),
            what="the export lines",
            timeout=START_TIMEOUT,
        )
        root = Path(exports["JDITEM_DEV_SERVICES"])
        _use(exports, tmp_path, (JDITEM,))
        pids = _pids(root)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=START_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == 0, err
    assert b"Ctrl-C" in err
    assert not root.exists()
    for pid in pids:
        wait_until(lambda pid=pid: _gone(pid), what=f"process {pid} to exit")


def test_stop_refuses_a_directory_it_did_not_make(tmp_path: Path) -> None:
    keep = tmp_path / "keep.txt"
    keep.write_text("mine")
    done = run((JDITEM,), "dev", "stop", str(tmp_path), env=_env(tmp_path))
    assert done.returncode == 2
    assert "was not made by `jditem dev services`" in done.stderr
    assert keep.read_text() == "mine"


UNPRIVILEGED = "nobody"


@pytest.fixture
def as_unprivileged() -> tuple[str, ...]:
    """The command prefix that runs ``jditem`` as an unprivileged user (tests as root).

    This venv's interpreter may live under /root (unreadable to others), so the
    system's python3 of the same version runs the same code: this checkout's ``src``
    and this venv's site-packages on ``PYTHONPATH``.
    """
    if os.geteuid() != 0:
        pytest.skip("runs as a normal user already: the other tests cover it")
    python = shutil.which("python3", path="/usr/bin:/bin")
    runuser = shutil.which("runuser")
    if python is None or runuser is None:
        pytest.skip("needs /usr/bin/python3 and runuser to switch to an unprivileged user")
    paths = [Path(jditem.__file__).parents[1], Path(typer.__file__).parents[1]]
    prefix = (
        runuser,
        "-u",
        UNPRIVILEGED,
        "--",
        "env",
        f"PYTHONPATH={':'.join(str(p) for p in paths)}",
        python,
        "-m",
        "jditem.cli",
    )
    probe = subprocess.run(
        [*prefix, "--version"], capture_output=True, text=True, timeout=120, cwd="/tmp"
    )
    if probe.returncode != 0:
        pytest.skip(f"{UNPRIVILEGED} cannot run this checkout: {probe.stderr.strip()[-300:]}")
    return prefix


def test_as_an_unprivileged_user(as_unprivileged: tuple[str, ...]) -> None:
    home = Path(tempfile.mkdtemp(prefix="jditem-dev-test-home-", dir="/tmp"))
    shutil.chown(home, user=UNPRIVILEGED)  # pytest's tmp_path is root's alone
    try:
        _as_unprivileged(home, as_unprivileged)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _as_unprivileged(home: Path, as_unprivileged: tuple[str, ...]) -> None:
    started = run(as_unprivileged, "dev", "services", "--detach", env=_env(home))
    assert started.returncode == 0, started.stderr
    exports = parse_exports(started.stdout)
    root = Path(exports["JDITEM_DEV_SERVICES"])
    try:
        assert root.owner() == UNPRIVILEGED
        assert exports["JDITEM_DATABASE_URL"].startswith(f"postgresql://{UNPRIVILEGED}@/jditem?")
        _use(exports, home, as_unprivileged)
    finally:
        stopped = run(as_unprivileged, "dev", "stop", str(root), env=_env(home))
    assert stopped.returncode == 0, stopped.stderr
    assert not root.exists()
