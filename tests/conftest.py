"""Shared fixtures.

``live``: a real server on 127.0.0.1 (see tests/support/live_server.py), on each store
profile. ``backend``: the profile of the test, parametrised over ``sqlite`` (the
embedded profile) and ``postgresql`` (the scale-out profile, SPEC §2.8: PostgreSQL +
Redis). A test that uses ``backend`` (directly, through ``live``, or with
``pytest.mark.usefixtures("backend")``) runs once per profile, and every
``live_server()`` it starts uses a fresh database of that profile (and, scale-out, the
session's Redis, emptied before the test).

The scale-out profile needs PostgreSQL server binaries and redis-server (``apt-get
install postgresql redis-server``); the session starts one throwaway instance of each
(unix sockets in temp dirs) and stops them at the end. Without them its tests skip
with one reason line — except in CI (``CI=true`` or ``JDITEM_REQUIRE_SERVICES=1``,
both set by ``.ci/run``), where a missing service fails the run.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest

from tests.support.backends import Backend, FreshDatabase, prepare_template
from tests.support.live_server import LiveServer, live_server
from tests.support.monitoring import Changer, changing_item
from tests.support.postgres import PgCluster, PostgresUnavailable, start_cluster
from tests.support.redis_server import RedisServer, RedisUnavailable, start_redis

BACKENDS = ("sqlite", "postgresql")


def services_required() -> bool:
    """True in CI (``.ci/run``): a missing scale-out service fails instead of skipping."""
    return (
        os.environ.get("JDITEM_REQUIRE_SERVICES") == "1"
        or os.environ.get("CI", "").lower() == "true"
    )


def _unavailable(message: str) -> None:
    if services_required():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One throwaway PostgreSQL cluster for the whole session (see tests/support)."""
    reason = "SCALE-OUT TESTS SKIPPED: PostgreSQL unavailable: "
    if importlib.util.find_spec("asyncpg") is None:
        _unavailable(reason + "the asyncpg driver is not installed (pip install 'jditem[scale]')")
    try:
        cluster = start_cluster()
    except PostgresUnavailable as exc:
        _unavailable(reason + str(exc))
        raise  # unreachable: _unavailable always raises
    try:
        prepare_template(cluster)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_session() -> Iterator[RedisServer]:
    """A throwaway redis-server for the whole session (skips loudly when unavailable)."""
    try:
        server = start_redis()
    except RedisUnavailable as exc:
        _unavailable(f"SCALE-OUT TESTS SKIPPED: Redis unavailable: {exc}")
        raise  # unreachable: _unavailable always raises
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_server(redis_session: RedisServer) -> RedisServer:
    """The session's redis-server, running and empty for this test."""
    if not redis_session.ping():
        redis_session.start()
    redis_session.flush()
    return redis_session


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """The profile (parametrised; see the module docstring)."""
    if request.param == "sqlite":
        return Backend("sqlite")
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    redis: RedisServer = request.getfixturevalue("redis_session")
    return Backend("postgresql", cluster=cluster, redis=redis)


@pytest.fixture(autouse=True)
def _backend_database(request: pytest.FixtureRequest) -> Iterator[FreshDatabase | None]:
    """Point every ``live_server()`` of a backend test at a fresh database of it."""
    if "backend" not in request.fixturenames:
        yield None
        return
    chosen: Backend = request.getfixturevalue("backend")
    with chosen.database() as fresh:
        yield fresh


@pytest.fixture
def fresh_database(backend: Backend, _backend_database: FreshDatabase | None) -> FreshDatabase:
    """The test's database of its profile (what its live servers use); ``.url`` is
    None on SQLite, where each live server has its own temporary file."""
    del backend
    assert _backend_database is not None
    return _backend_database


@pytest.fixture
def live(backend: Backend) -> Iterator[LiveServer]:
    """A running server with test defaults (fast sandbox, no rate limit), per profile."""
    del backend  # the autouse fixture above already chose the database
    with live_server() as server:
        yield server


@pytest.fixture(scope="module")
def changing_world() -> Iterator[Changer]:
    """A server whose item's answer the test scripts (tests/support/monitoring.py), one
    per test module, its watch scheduler off: the change feed seen by the client, the
    CLI and the MCP tool."""
    with changing_item(watch_scheduler=False) as changer:
        yield changer
