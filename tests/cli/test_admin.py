"""``jditem admin`` and ``jditem serve`` against a real SQLite file."""

from __future__ import annotations

import hashlib
import os
import select
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.support.postgres import PgCluster
from tests.support.waiting import wait_until
from typer.testing import CliRunner

from jditem.cli.app import build_app


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "admin.db"


def jditem(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_app(), list(args))
    return result.exit_code, result.stdout, result.stderr


def test_token_create_prints_the_token_last(db: Path) -> None:
    code, out, _ = jditem(
        "admin", "--db", str(db), "account", "create", "acme", "--balance", "12.5"
    )
    assert code == 0, out
    assert "12.5000" in out
    code, out, _ = jditem(
        "admin",
        "--db",
        str(db),
        "token",
        "create",
        "--account",
        "acme",
        "--name",
        "ci",
        "--budget",
        "1.25",
        "--rate",
        "5",
        "--daily-quota",
        "100",
    )
    assert code == 0, out
    raw = out.rstrip("\n").splitlines()[-1]
    assert raw.startswith("jd_")
    assert " " not in raw
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT token_hash, prefix, budget, rate_limit, daily_quota, name FROM tokens"
        ).fetchone()
    assert row == (hashlib.sha256(raw.encode()).hexdigest(), raw[:10], 12_500, 5.0, 100, "ci")


def test_admin_commands_round_trip(db: Path) -> None:
    base = ("admin", "--db", str(db))
    assert jditem(*base, "account", "create", "acme")[0] == 0
    out = jditem(*base, "token", "create", "--account", "acme", "--unlimited")[1]
    raw = out.splitlines()[-1]
    assert jditem(*base, "balance", "topup", "acme", "0.0001")[0] == 0
    assert jditem(*base, "token", "update", raw[:10], "--budget", "2", "--rate", "none")[0] == 0
    assert jditem(*base, "token", "disable", raw[:10])[0] == 0
    listing = jditem(*base, "token", "list", "--account", "acme")[1]
    assert raw[:6] in listing
    assert raw not in listing
    ledger = jditem(*base, "ledger", "--account", "acme")[1]
    assert "0.0001" in ledger
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT enabled, budget, rate_limit FROM tokens").fetchone() == (
            0,
            20_000,
            None,
        )
        assert conn.execute("SELECT balance FROM accounts").fetchone() == (1,)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("account", "create", "x", "--balance", "1.00001"), "4 decimal places"),
        (("account", "create", "x", "--balance", "1e3"), "plain decimal notation"),
        (("account", "create", "x", "--balance", "1_000"), "plain decimal notation"),
        (("account", "create", "x", "--balance", "\uff11\uff12"), "plain decimal notation"),
        (("account", "create", "x", "--balance", "100000000001"), "too large"),
        (("token", "create", "--account", "x", "--budget", "NaN"), "plain decimal notation"),
        (("ledger", "--limit", "0"), "limit"),
    ],
)
def test_admin_usage_errors_are_clean_and_exit_2(
    db: Path, args: tuple[str, ...], message: str
) -> None:
    code, out, err = jditem("admin", "--db", str(db), *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("token", "create", "--account", "nobody"), "no account named 'nobody'"),
        (("balance", "topup", "nobody", "1"), "no account named 'nobody'"),
        (("token", "disable", "jd_nothing"), "no token"),
        (("member", "role", "nobody@example.com", "owner"), "no member"),
    ],
)
def test_admin_errors_that_are_not_usage_exit_1(
    db: Path, args: tuple[str, ...], message: str
) -> None:
    code, out, err = jditem("admin", "--db", str(db), *args)
    assert code == 1
    assert message in err
    assert "Traceback" not in out + err


#: One usage error per ``jditem admin`` subcommand (README: exit code 2 = usage).
ADMIN_USAGE_ERRORS: dict[str, tuple[tuple[str, ...], str]] = {
    "account create": (("account", "create", "x", "--balance", "abc"), "not a yuan amount"),
    "account list": (("account", "list", "--db", "ftp://x"), "unsupported database URL"),
    "account caps": (("account", "caps", "acme", "--max-rate", "abc"), "not a valid value"),
    "account rename": (("account", "rename", "acme", "a/b"), "must not contain '/'"),
    "token create": (("token", "create", "--account", "acme", "--rate", "-1"), "rate limit"),
    "token list": (("token", "list", "--bogus"), "No such option"),
    "token disable": (
        (
            "token",
            "disable",
        ),
        "Missing argument",
    ),
    "token enable": (
        (
            "token",
            "enable",
        ),
        "Missing argument",
    ),
    "token update": (("token", "update", "1"), "nothing to change"),
    "balance": (("balance", "--db", "mysql://x/y"), "unsupported database URL"),
    "balance topup": (("balance", "topup", "acme", "abc"), "not a yuan amount"),
    "ledger": (("ledger", "--limit", "0"), "limit must be"),
    "prune": (("prune", "--db", "ftp://x"), "unsupported database URL"),
    "upstream": (("upstream", "--db", "ftp://x"), "unsupported database URL"),
    "member add": (("member", "add", "not-an-address", "--account", "acme"), "e-mail"),
    "member list": (("member", "list", "--db", "ftp://x"), "unsupported database URL"),
    "member reset": (("member", "reset", "m@example.com", "--base-url", "ftp://x"), "http(s)"),
    "member role": (("member", "role", "m@example.com", "boss"), "role must be"),
    "member remove": (
        (
            "member",
            "remove",
        ),
        "Missing argument",
    ),
}


def test_every_admin_subcommand_is_covered() -> None:
    from jditem.cli.admin import build_admin

    def walk(group: Any, prefix: str) -> list[str]:
        names = []
        for name, command in group.commands.items():
            full = f"{prefix} {name}".strip()
            names.append(full)
            if hasattr(command, "commands"):
                names.extend(walk(command, full))
        return names

    import typer

    names = set(walk(typer.main.get_command(build_admin()), ""))
    groups_only = {"account", "token", "member"}
    assert names - groups_only == set(ADMIN_USAGE_ERRORS)


@pytest.mark.parametrize("name", sorted(ADMIN_USAGE_ERRORS))
def test_every_admin_usage_error_exits_2(db: Path, name: str) -> None:
    base = ("admin", "--db", str(db))
    assert jditem(*base, "account", "create", "acme")[0] == 0
    assert jditem(*base, "member", "add", "m@example.com", "--account", "acme")[0] == 0
    args, message = ADMIN_USAGE_ERRORS[name]
    code, out, err = jditem(*base, *args)
    assert code == 2, (name, out, err)
    assert message in err, (name, err)
    assert "Traceback" not in out + err


def test_a_bad_setting_is_a_usage_error_for_admin(db: Path) -> None:
    result = CliRunner().invoke(
        build_app(),
        ["admin", "--db", str(db), "account", "list"],
        env={"JDITEM_TIMEZONE": "Mars/Olympus"},
    )
    assert result.exit_code == 2
    assert "JDITEM_TIMEZONE: unknown time zone" in result.stderr


def test_every_admin_command_has_help() -> None:
    for args in (
        ["admin"],
        ["admin", "account"],
        ["admin", "token"],
        ["admin", "balance"],
        ["admin", "token", "create"],
        ["admin", "ledger"],
        ["serve"],
    ):
        code, out, _ = jditem(*args, "--help")
        assert code == 0, args
        assert "Usage" in out


def _read_until(proc: subprocess.Popen[bytes], marker: str, seconds: float) -> list[str]:
    """Lines of ``proc``'s stdout up to the one containing ``marker`` (bounded wait)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buffer = bytearray()

    def printed() -> bool:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"{marker!r} not printed before EOF; got {bytes(buffer)!r}")
            buffer.extend(chunk)
        return marker.encode() in buffer

    try:
        wait_until(printed, f"{marker!r} printed", timeout=seconds)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; got {bytes(buffer)!r}") from None
    return buffer.decode().splitlines()


def test_serve_first_start_prints_a_demo_token(tmp_path: Path) -> None:
    env = {**os.environ, "JDITEM_HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    env.pop("JDITEM_DATABASE_URL", None)
    with subprocess.Popen(
        [sys.executable, "-m", "jditem.cli", "serve", "--port", "0", "--workers", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    ) as proc:
        try:
            lines = _read_until(proc, "Serving on", 30)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
    first = next(i for i, line in enumerate(lines) if "First start" in line)
    token = lines[first + 1]
    assert token.startswith("jd_")
    with sqlite3.connect(tmp_path / "server.db") as conn:
        stored = conn.execute("SELECT token_hash FROM tokens").fetchall()
        assert stored == [(hashlib.sha256(token.encode()).hexdigest(),)]
        assert conn.execute("SELECT name, balance FROM accounts").fetchall() == [
            ("demo", 1_000_000)
        ]

    from jditem.cli.serve import _first_start
    from jditem.cli.server_db import load_settings, run_with_session

    settings = load_settings(str(tmp_path / "server.db"))
    assert run_with_session(settings, _first_start) is None  # second start: no new token


# ------------------------------------------------------- database URLs (issue 8)


def test_db_may_follow_the_admin_subcommand(tmp_path: Path) -> None:
    db = tmp_path / "after.db"
    code, out, err = jditem("admin", "account", "create", "acme", "--balance", "3", "--db", str(db))
    assert code == 0, out + err
    code, out, err = jditem("admin", "account", "list", f"--db=sqlite:///{db}")
    assert code == 0, out + err
    assert "acme" in out
    code, out, err = jditem("admin", "--db", str(db), "token", "list")
    assert code == 0, out + err


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://root:s3cret-pw@db/jd", "unsupported database URL scheme 'mysql://'"),
        ("postgresql://root:s3cret-pw@db", "names no database"),
    ],
)
def test_an_unusable_db_url_is_one_clear_line(url: str, says: str) -> None:
    for args in (
        ("admin", "account", "list", "--db", url),
        ("admin", "token", "create", "--account", "a", "--db", url),
        ("serve", "--db", url),
    ):
        code, out, err = jditem(*args)
        assert code == 2, (args, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("error: --db / JDITEM_DATABASE_URL: ")
        assert says in lines[0]
        assert "s3cret-pw" not in out + err
        assert "Traceback" not in out + err


def test_a_missing_postgres_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from jditem.server.store import urls

    real = urls.importlib.util.find_spec
    monkeypatch.setattr(
        urls.importlib.util, "find_spec", lambda name: None if name == "asyncpg" else real(name)
    )
    code, _out, err = jditem("admin", "account", "list", "--db", "postgres://u:pw@h/jd")
    assert code == 2
    assert err.strip() == (
        "error: --db / JDITEM_DATABASE_URL: PostgreSQL needs the asyncpg driver, which is "
        "not installed: pip install 'jditem[scale]'"
    )


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql://jd:s3cret-pw@/jd?host={tmp_path / 'no-such-socket-dir'}"
    code, out, err = jditem("admin", "account", "list", "--db", url)
    assert code == 1
    assert err.startswith("error: cannot use the database postgresql+asyncpg://jd:***@")
    assert len(err.strip().splitlines()) == 1
    assert "s3cret-pw" not in out + err


def test_admin_on_postgres_with_the_url_a_user_types(pg_cluster: PgCluster) -> None:
    name = pg_cluster.create_database("cli")
    try:
        typed = pg_cluster.sync_url(name).replace("postgresql://", "postgres://", 1)
        code, out, err = jditem("admin", "account", "create", "pg", "--balance", "2", "--db", typed)
        assert code == 0, out + err
        code, out, err = jditem(
            "admin", "token", "create", "--account", "pg", "--unlimited", "--db", typed
        )
        assert code == 0, out + err
        raw = out.strip().splitlines()[-1]
        code, out, _ = jditem("admin", "token", "list", "--db", typed)
        assert code == 0
        assert raw[:10] in out  # the prefix is listed, never the token
        assert raw not in out
        stored = pg_cluster.psql("SELECT token_hash FROM tokens", database=name).split()
        assert stored == [hashlib.sha256(raw.encode()).hexdigest()]
    finally:
        pg_cluster.drop_database(name)
