"""Files that hold secrets or customer data are their owner's alone (issue 16 item 16):
created 0600 in folders created 0700 under the usual umask 022 — the batch journals,
result cache and output registry, and the server's SQLite database with its -wal/-shm.
(Batch output files are the output writer's, tested with it.)"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jditem.cli.app import build_app
from tests.support.live_server import live_server

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The umask most systems give users (files 0644, folders 0755 by default)."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(folder: Path) -> dict[str, int]:
    """Every file and folder under ``folder`` (itself included) with its mode."""
    found = {".": mode(folder)}
    for path in folder.rglob("*"):
        found[path.relative_to(folder).as_posix()] = mode(path)
    return found


@pytest.mark.usefixtures("umask_022")
def test_helpers(tmp_path: Path) -> None:
    from jditem.private_files import private_dir, private_file

    made = private_file(tmp_path / "a" / "b" / "f.db", ("-wal",))
    assert (mode(tmp_path / "a"), mode(tmp_path / "a" / "b"), mode(made)) == (0o700, 0o700, 0o600)
    assert made.read_bytes() == b""
    made.write_bytes(b"kept")
    private_file(made)
    assert made.read_bytes() == b"kept"  # an existing file is never truncated
    old = tmp_path / "old.db"
    old.write_bytes(b"x")
    (tmp_path / "old.db-wal").write_bytes(b"y")
    old.chmod(0o644)
    private_file(old, ("-wal", "-shm"))
    assert (mode(old), mode(tmp_path / "old.db-wal")) == (0o600, 0o600)
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    private_dir(shared / "mine")
    assert (mode(shared), mode(shared / "mine")) == (0o755, 0o700)  # chosen folders stay


@pytest.mark.usefixtures("umask_022")
def test_batch_files_are_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    source = tmp_path / "ids.txt"
    source.write_text("100000000001\n100000000002\n", encoding="utf-8")
    with live_server() as live:
        token = live.make_token("acme", balance_yuan="1")
        result = CliRunner().invoke(
            build_app(),
            ["batch", str(source), "-o", str(tmp_path / "out.jsonl"), "--job", "private",
             "--base-url", live.base_url, "--progress", "none"],
            env={"JDITEM_HOME": str(home), "JDITEM_TOKEN": token},
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    found = modes(home)
    for name in ("jobs/private.sqlite", "cache.sqlite"):
        assert name in found, found
    assert {name for name, m in found.items() if m & 0o077} == set(), found
    folders = {name for name in found if (home / name).is_dir()}
    assert all(found[name] == 0o700 for name in folders), found


@pytest.mark.usefixtures("umask_022")
def test_the_server_database_is_private(tmp_path: Path) -> None:
    home = tmp_path / "server-home"
    with live_server(home=home) as live:
        live.make_token("acme", balance_yuan="1")
        files = modes(home)
    assert {"server.db", "server.db-wal", "server.db-shm"} <= set(files), files
    assert files == {name: 0o700 if name == "." else 0o600 for name in files}, files


@pytest.mark.usefixtures("umask_022")
def test_admin_commands_create_a_private_database(tmp_path: Path) -> None:
    db = tmp_path / "new" / "admin.db"
    result = CliRunner().invoke(
        build_app(), ["admin", "--db", str(db), "account", "create", "acme"]
    )
    assert result.exit_code == 0, result.output
    assert (mode(db.parent), mode(db)) == (0o700, 0o600)


@pytest.mark.usefixtures("umask_022")
def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    """A database an earlier version left 0644 is 0600 after the next start."""
    home = tmp_path / "upgraded"
    with live_server(home=home):
        pass
    for path in home.iterdir():
        path.chmod(0o644)
    with live_server(home=home):
        assert mode(home / "server.db") == 0o600
