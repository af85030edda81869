"""A throwaway PostgreSQL cluster for the test session (unix socket only, no TCP).

:func:`start_cluster` runs ``initdb`` and ``pg_ctl start`` in a fresh ``mktemp -d``
directory under /tmp (mode 755, so the ``postgres`` user can reach it when the tests
run as root; then every server command runs through ``runuser -u postgres``). The
cluster listens on a unix socket in that directory only (``listen_addresses=''``),
with ``fsync=off`` (it holds test data only). :meth:`PgCluster.create_database` makes a
fresh, empty database per test; :meth:`PgCluster.url` is its async SQLAlchemy URL.

``python -m tests.support.postgres`` starts one by hand and prints its URL (Ctrl-C
stops it), for poking at the server outside pytest.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Bounded waits (initdb takes 1-8 s on a busy machine).
START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0
SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL binaries are missing or the cluster would not start (reason in message)."""


def find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: on PATH, else the newest Debian one."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(os.path.realpath(on_path)).parent  # /usr/local/bin links into the real dir
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    return Path(candidates[-1]).parent if candidates else None


def _as_postgres() -> list[str]:
    """Command prefix: root cannot run PostgreSQL, so run it as the ``postgres`` user."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root, and runuser (to become postgres) is missing")
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class PgCluster:
    """A running throwaway cluster (see the module docstring)."""

    bindir: Path
    root: Path
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root

    def url(self, database: str) -> str:
        """The async SQLAlchemy URL of ``database`` (through the unix socket)."""
        user = SUPERUSER if os.geteuid() == 0 else _current_user()
        return f"postgresql+asyncpg://{user}@/{database}?host={self.socket_dir}"

    def sync_url(self, database: str) -> str:
        """A libpq-style URL (for the CLI tests: ``--db postgresql://…``)."""
        user = SUPERUSER if os.geteuid() == 0 else _current_user()
        return f"postgresql://{user}@/{database}?host={self.socket_dir}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with psql through the socket; returns stdout."""
        out = subprocess.run(
            [
                *_as_postgres(),
                str(self.bindir / "psql"),
                "-h",
                str(self.socket_dir),
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atqc",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=STOP_TIMEOUT,
            cwd="/tmp",
        )
        return out.stdout

    def create_database(self, prefix: str = "t", template: str = "template0") -> str:
        """A fresh database cloned from ``template`` (default: empty); returns its name."""
        name = f"{prefix}_{os.getpid()}_{next(self._counter)}"
        self.psql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name`` (disconnecting whoever is still on it); errors are ignored."""
        with contextlib.suppress(subprocess.SubprocessError):
            self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (fast mode, bounded) and delete the directory."""
        with contextlib.suppress(subprocess.SubprocessError):
            subprocess.run(
                [
                    *_as_postgres(),
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    str(int(STOP_TIMEOUT)),
                    "stop",
                ],
                check=False,
                capture_output=True,
                timeout=STOP_TIMEOUT + 10,
                cwd="/tmp",
            )
        shutil.rmtree(self.root, ignore_errors=True)


def _current_user() -> str:
    import getpass

    return getpass.getuser()


def start_cluster() -> PgCluster:
    """initdb + start a cluster in a new temp dir; raises :class:`PostgresUnavailable`."""
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            "PostgreSQL server binaries (initdb, pg_ctl) not found; "
            "install them with: apt-get install postgresql"
        )
    prefix = _as_postgres()
    root = Path(tempfile.mkdtemp(prefix="jditem-pg-", dir="/tmp"))
    root.chmod(0o755)
    if prefix:
        shutil.chown(root, user=SUPERUSER)
    cluster = PgCluster(bindir=bindir, root=root)
    try:
        subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(cluster.datadir),
                "-U",
                SUPERUSER if prefix else _current_user(),
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            ],
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT,
            cwd="/tmp",
        )
        options = (
            f"-c listen_addresses='' -k {root} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=300"
        )
        subprocess.run(
            [
                *prefix,
                str(bindir / "pg_ctl"),
                "-D",
                str(cluster.datadir),
                "-o",
                options,
                "-w",
                "-t",
                str(int(START_TIMEOUT)),
                "-l",
                str(root / "server.log"),
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT + 10,
            cwd="/tmp",
        )
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        log = root / "server.log"
        tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
        cluster.stop()
        raise PostgresUnavailable(
            f"could not start a throwaway PostgreSQL: {exc}; "
            f"{detail.decode(errors='replace')[-500:]} {tail}".strip()
        ) from None
    return cluster


if __name__ == "__main__":  # pragma: no cover - manual use
    started = start_cluster()
    name = started.create_database("manual")
    print(started.url(name), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        started.stop()
