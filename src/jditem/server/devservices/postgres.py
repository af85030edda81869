"""A throwaway PostgreSQL cluster: unix socket only, for trying scale-out and for tests.

:func:`start_cluster` runs ``initdb`` and ``pg_ctl start`` in a directory under /tmp
(mode 755, so the ``postgres`` user can reach it when run as root; then every server
command runs through ``runuser -u postgres``, as root cannot run PostgreSQL). The
cluster listens on a unix socket in that directory only (``listen_addresses=''``), with
``fsync=off``: it holds throwaway data. :meth:`PgCluster.create_database` makes a
database; :meth:`PgCluster.url` is its async SQLAlchemy URL, :meth:`PgCluster.sync_url`
the libpq-style URL a person types (``--db``).

Standard library only: ``jditem dev services`` runs it, and so does the test suite
(``tests/support/postgres.py``).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
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


def as_postgres() -> list[str]:
    """Command prefix: root cannot run PostgreSQL, so run it as the ``postgres`` user."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root, and runuser (to become postgres) is missing")
    return ["runuser", "-u", SUPERUSER, "--"]


def database_user() -> str:
    """The role the cluster's URLs sign in as: ``postgres`` under root, else the caller."""
    return SUPERUSER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


@dataclass
class PgCluster:
    """A running throwaway cluster (see the module docstring)."""

    bindir: Path
    root: Path
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def datadir(self) -> Path:
        """The cluster's data directory."""
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        """Where the server's unix socket is (``?host=`` of the URLs)."""
        return self.root

    def url(self, database: str) -> str:
        """The async SQLAlchemy URL of ``database`` (through the unix socket)."""
        return f"postgresql+asyncpg://{database_user()}@/{database}?host={self.socket_dir}"

    def sync_url(self, database: str) -> str:
        """A libpq-style URL, as a person types it (``--db postgresql://…``)."""
        return f"postgresql://{database_user()}@/{database}?host={self.socket_dir}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with psql through the socket; returns stdout."""
        out = subprocess.run(
            [
                *as_postgres(),
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

    def create_named_database(self, name: str, template: str = "template0") -> str:
        """Create the database ``name`` cloned from ``template`` (default: empty)."""
        self.psql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def create_database(self, prefix: str = "t", template: str = "template0") -> str:
        """A fresh database named ``<prefix>_<pid>_<n>``; returns its name."""
        name = f"{prefix}_{os.getpid()}_{next(self._counter)}"
        return self.create_named_database(name, template)

    def drop_database(self, name: str) -> None:
        """Drop ``name`` (disconnecting whoever is still on it); errors are ignored."""
        with contextlib.suppress(subprocess.SubprocessError):
            self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (fast mode, bounded) and delete the directory."""
        with contextlib.suppress(subprocess.SubprocessError, OSError, PostgresUnavailable):
            subprocess.run(
                [
                    *as_postgres(),
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


def _prepare_root(root: Path | None, prefix: list[str]) -> Path:
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="jditem-pg-", dir="/tmp"))
    else:
        root.mkdir(parents=True, exist_ok=False)
    root.chmod(0o755)
    if prefix:
        shutil.chown(root, user=SUPERUSER)
    return root


def start_cluster(root: Path | None = None) -> PgCluster:
    """initdb + start a cluster in ``root`` (a new directory; default a fresh
    ``mktemp -d`` under /tmp); raises :class:`PostgresUnavailable`."""
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            "PostgreSQL server binaries (initdb, pg_ctl) not found; "
            "install them with: apt-get install postgresql"
        )
    prefix = as_postgres()
    cluster = PgCluster(bindir=bindir, root=_prepare_root(root, prefix))
    try:
        subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(cluster.datadir),
                "-U",
                database_user(),
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
            f"-c listen_addresses='' -k {cluster.socket_dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
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
                str(cluster.root / "server.log"),
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT + 10,
            cwd="/tmp",
        )
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        log = cluster.root / "server.log"
        tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
        cluster.stop()
        raise PostgresUnavailable(
            f"could not start a throwaway PostgreSQL: {exc}; "
            f"{detail.decode(errors='replace')[-500:]} {tail}".strip()
        ) from None
    return cluster
