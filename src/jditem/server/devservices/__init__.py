"""Throwaway PostgreSQL + Redis on unix sockets, for trying the scale-out profile locally.

``jditem dev services`` starts both in one ``mktemp -d`` directory under /tmp (mode
755), PostgreSQL through ``runuser -u postgres`` when run as root, and prints the
``--db`` / ``--redis`` URLs; stopping deletes the directory, data included. Not for
production: ``fsync`` is off and anyone on the machine may connect to the database
(trust authentication on a unix socket). ``deploy/`` shows the real shape.

The test suite starts the same services (``tests/support/postgres.py``,
``tests/support/redis_server.py``). Standard library only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jditem.server.devservices.postgres import (
    PgCluster,
    PostgresUnavailable,
    find_bindir,
    start_cluster,
)
from jditem.server.devservices.redis_server import RedisServer, RedisUnavailable, start_redis

__all__ = [
    "DATABASE",
    "DevServices",
    "DevServicesError",
    "PgCluster",
    "PostgresUnavailable",
    "RedisServer",
    "RedisUnavailable",
    "attach",
    "start",
]

#: The database ``jditem dev services`` creates.
DATABASE = "jditem"
#: The file that marks a directory as made by :func:`start` (and says how to stop it).
MARKER = "jditem-dev-services.json"


class DevServicesError(RuntimeError):
    """The services could not be started or found; the message says why."""


@dataclass
class DevServices:
    """A running PostgreSQL + Redis pair in :attr:`root`."""

    root: Path
    postgres: PgCluster
    redis: RedisServer

    @property
    def database_url(self) -> str:
        """``--db`` / ``JDITEM_DATABASE_URL`` (PostgreSQL over its unix socket)."""
        return self.postgres.sync_url(DATABASE)

    @property
    def redis_url(self) -> str:
        """``--redis`` / ``JDITEM_REDIS_URL`` (Redis over its unix socket)."""
        return self.redis.url

    def stop(self) -> None:
        """Stop both servers (bounded) and delete the directory with their data."""
        try:
            self.redis.close()
        finally:
            try:
                self.postgres.stop()
            finally:
                shutil.rmtree(self.root, ignore_errors=True)


def start() -> DevServices:
    """Start PostgreSQL (with an empty database ``jditem``) and Redis in a new directory
    under /tmp; raises :class:`DevServicesError` when either cannot start (nothing is
    left running or on disk then)."""
    root = Path(tempfile.mkdtemp(prefix="jditem-dev-", dir="/tmp"))
    root.chmod(0o755)  # the postgres user must reach its directory when we are root
    postgres: PgCluster | None = None
    redis: RedisServer | None = None
    try:
        postgres = start_cluster(root / "postgresql")
        redis = start_redis(root / "redis")
        postgres.create_named_database(DATABASE)
        marker = {"postgres_bindir": str(postgres.bindir), "redis_binary": redis.binary}
        (root / MARKER).write_text(json.dumps(marker))
    except BaseException as exc:
        if redis is not None:
            redis.close()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(root, ignore_errors=True)
        if isinstance(exc, PostgresUnavailable | RedisUnavailable):
            raise DevServicesError(str(exc)) from None
        if isinstance(exc, subprocess.CalledProcessError):
            detail = (exc.stderr or "").strip()
            raise DevServicesError(f"could not create the database {DATABASE}: {detail}") from None
        raise
    return DevServices(root, postgres, redis)


def attach(root: Path) -> DevServices:
    """The services :func:`start` made in ``root`` (to stop them); raises
    :class:`DevServicesError` for a directory it did not make."""
    try:
        marker = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        raise DevServicesError(
            f"{root} was not made by `jditem dev services` (no {MARKER} in it); nothing was stopped"
        ) from None
    bindir = Path(marker.get("postgres_bindir") or find_bindir() or "/usr/bin")
    binary = str(marker.get("redis_binary") or "redis-server")
    postgres = PgCluster(bindir=bindir, root=root / "postgresql")
    return DevServices(root, postgres, RedisServer(binary, root / "redis"))
