"""The store profiles the server suite runs against (SPEC §2.8).

``sqlite``: the embedded profile (a temporary SQLite file per live server, as before).
``postgresql``: the scale-out profile on the session's throwaway PostgreSQL cluster
(:mod:`tests.support.postgres`); every test gets a fresh database, cloned from a
template that already holds the migrated schema (a clone takes milliseconds, a
migration run much longer).

:class:`Backend` is what the ``backend`` fixture (tests/conftest.py) yields; the
scale-out profile's Redis (the session's throwaway redis-server) is emptied at the
start of each block.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.support import live_server as live_server_module
from tests.support.postgres import PgCluster
from tests.support.redis_server import RedisServer

TEMPLATE_DB = "jditem_template"


@dataclass
class Backend:
    """One store profile: its name and what a test needs to point a server at it."""

    name: str
    cluster: PgCluster | None = None
    redis: RedisServer | None = None

    @property
    def redis_url(self) -> str | None:
        return self.redis.url if self.redis is not None else None

    @property
    def is_postgres(self) -> bool:
        return self.cluster is not None

    @contextmanager
    def database(self) -> Iterator[FreshDatabase]:
        """Within the block, every ``live_server()`` uses one fresh database of this
        profile (created at the first server start, dropped at the end of the block).

        SQLite: each live server makes its own temporary file, as without a backend.
        """
        fresh = FreshDatabase(self)
        if self.redis is not None:  # rate buckets, caches: keyed by ids each test reuses
            if not self.redis.ping():
                self.redis.start()
            self.redis.flush()
        try:
            with live_server_module.default_overrides(fresh):
                yield fresh
        finally:
            fresh.drop()


class FreshDatabase:
    """Settings overrides for a database created on first use (see Backend.database)."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self.name: str | None = None

    def __call__(self) -> dict[str, Any]:
        cluster = self._backend.cluster
        if cluster is None:
            return {}
        if self.name is None:
            self.name = cluster.create_database("t", template=TEMPLATE_DB)
        overrides: dict[str, Any] = {"database_url": cluster.url(self.name)}
        if self._backend.redis_url is not None:
            overrides["redis_url"] = self._backend.redis_url
        return overrides

    @property
    def url(self) -> str | None:
        """The async URL (PostgreSQL; creates the database), or None on SQLite."""
        url = self().get("database_url")
        return str(url) if url is not None else None

    def drop(self) -> None:
        cluster, name = self._backend.cluster, self.name
        if cluster is not None and name is not None:
            cluster.drop_database(name)
            self.name = None


def prepare_template(cluster: PgCluster) -> None:
    """Create :data:`TEMPLATE_DB` and run the Alembic migrations on it."""
    from jditem.server.store.db import create_engine, migrate

    cluster.psql(f'CREATE DATABASE "{TEMPLATE_DB}" TEMPLATE template0')

    async def run() -> None:
        engine = create_engine(cluster.url(TEMPLATE_DB))
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
