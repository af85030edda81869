"""A real jditem server on 127.0.0.1 for integration tests (uvicorn in a thread).

Usage::

    from tests.support.live_server import live_server

    with live_server(http_status_mode="always-200") as live:
        token = live.make_token("acme", balance_yuan="1", budget_yuan="0.03")
        r = httpx.get(live.base_url + "/api/jd/get-item-detail/v2",
                      params={"itemId": "100012043978"},
                      headers={"Authorization": f"Bearer {token}"})
        assert live.scalar("SELECT balance FROM accounts WHERE name = 'acme'") == 9_900

or the pytest fixture ``live`` (tests/conftest.py), which is ``live_server()`` with
defaults. Stable interface (other test suites rely on it):

``live_server(*, clock=None, collector=None, configure_app=None, log_level="warning",
**settings_overrides)``
    Context manager yielding a :class:`LiveServer`. ``settings_overrides`` are
    :class:`~jditem.server.settings.Settings` fields. Defaults differ from production
    for speed and isolation: a temporary ``home`` with its own SQLite file, a random
    admin key, ``sandbox_latency_ms=(5, 20)``, and no default rate limit for new
    tokens. ``clock`` (returns an aware "now") and ``collector`` are passed to
    ``create_app``; ``configure_app(app)`` may add test-only routes before start.
    Start and stop waits are bounded (``START_TIMEOUT`` / ``STOP_TIMEOUT``).

Inside a test of the ``backend`` fixture (tests/conftest.py), the database is that
profile's (a fresh PostgreSQL database, or the temporary SQLite file) unless
``database_url`` is given.

``LiveServer`` attributes: ``base_url``, ``settings``, ``admin_key``, ``db_url``
(async SQLAlchemy URL), ``db_path``, ``app``.

``LiveServer`` helpers:
    ``make_token(account="acme", *, balance_yuan="100", budget_yuan=None, rate=None,
    burst=None, daily_quota=None, permissions=None, name="t") -> str`` — creates the
    account (with ``balance_yuan``) if it does not exist yet, then a token; returns the
    raw token. ``rate=None`` means no rate limit.
    ``topup(account, yuan)``; ``admin(method, path, json=None) -> data`` (admin API,
    raises ``AssertionError`` unless code 0); ``get(item_id, token, **params) ->
    httpx.Response`` (v2 call with a Bearer header); ``scalar(sql, **params)`` and
    ``rows(sql, **params)`` (synchronous SQL for assertions; call records are flushed
    first); ``execute(sql, **params)`` (one statement, committed); ``flush()``
    (write buffered call records now); ``run(fn)`` (run
    ``fn(ctx)`` — a coroutine function — on the server's event loop and return its
    result); ``stop()`` (idempotent; the context manager calls it); ``uvicorn`` (the
    running ``uvicorn.Server``: its ``loop`` and ``server_state.connections``, for tests
    of the connection layer).
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI

from jditem.server.app import create_app
from jditem.server.clock import Clock
from jditem.server.collectors import Collector
from jditem.server.context import ServerContext
from jditem.server.http.config import uvicorn_config
from jditem.server.settings import Settings
from tests.support.waiting import wait_until

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
V2_PATH = "/api/jd/get-item-detail/v2"

T = TypeVar("T")

#: Settings that differ from production defaults in tests (callers may override each).
TEST_DEFAULTS: dict[str, Any] = {
    "sandbox_latency_ms": (5, 20),
    "default_rate_limit": None,
    "default_burst": None,
    "call_record_flush_seconds": 0.2,
    "wait_seconds": 5.0,
    # far above any client pool's idle expiry, even with a test client starved for
    # seconds: the server never closes a connection a client reuses (httpx.ReadError)
    "keep_alive_seconds": 120,
}


#: Makes the settings every ``live_server()`` uses unless the caller gives a
#: ``database_url``; set by the ``backend`` fixture (tests/conftest.py) through
#: :func:`default_overrides`.
_default_overrides: Callable[[], dict[str, Any]] | None = None


@contextmanager
def default_overrides(factory: Callable[[], dict[str, Any]]) -> Iterator[None]:
    """Within the block, ``live_server()`` applies ``factory()`` before its arguments."""
    global _default_overrides
    saved, _default_overrides = _default_overrides, factory
    try:
        yield
    finally:
        _default_overrides = saved


class _Server(uvicorn.Server):
    """uvicorn.Server that remembers its event loop (for :meth:`LiveServer.run`)."""

    loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: Any = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().serve(sockets)


class LiveServer:
    """A running server; see the module docstring for the interface."""

    def __init__(
        self, app: FastAPI, settings: Settings, admin_key: str, log_level: str = "warning"
    ) -> None:
        self.app = app
        self.settings = settings
        self.admin_key = admin_key
        self.db_url = settings.effective_database_url
        self.db_path = Path(sa.engine.make_url(self.db_url).database or "")
        self.base_url = ""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._http = httpx.Client(timeout=60.0)
        self._engine: sa.Engine | None = None
        self._log_level = log_level

    # ------------------------------------------------------------- lifecycle

    def _start(self) -> None:
        config = uvicorn_config(
            self.app,
            self.settings,
            host="127.0.0.1",
            port=0,
            log_config=None,
            log_level=self._log_level,
            lifespan="on",
            loop="asyncio",
            timeout_graceful_shutdown=5,
        )
        server = _Server(config)
        thread = threading.Thread(target=server.run, name="jditem-live-server", daemon=True)
        self._server, self._thread = server, thread
        thread.start()

        def started() -> bool:
            if not thread.is_alive():
                raise RuntimeError("the live server stopped during startup; see the log above")
            return bool(server.started)

        try:
            wait_until(started, "the live server to start", timeout=START_TIMEOUT, interval=0.01)
        except AssertionError:
            self.stop()
            raise
        port = server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self._http.base_url = httpx.URL(self.base_url)

    def stop(self) -> None:
        """Stop the server (bounded wait); safe to call twice."""
        server, thread = self._server, self._thread
        if server is not None and thread is not None and thread.is_alive():
            server.should_exit = True
            thread.join(STOP_TIMEOUT)
            if thread.is_alive():
                server.force_exit = True
                thread.join(5.0)
        self._server = None
        self._http.close()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @property
    def uvicorn(self) -> _Server:
        """The running uvicorn server (see the module docstring)."""
        if self._server is None or self._server.loop is None:
            raise RuntimeError("the live server is not running")
        return self._server

    @property
    def ctx(self) -> ServerContext:
        """The running app's context (use it only through :meth:`run`)."""
        ctx: ServerContext = self.app.state.ctx
        return ctx

    def run(self, fn: Callable[[ServerContext], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run ``fn(ctx)`` on the server's event loop and wait for its result."""
        server = self._server
        if server is None or server.loop is None:
            raise RuntimeError("the live server is not running")

        async def call() -> T:
            return await fn(self.ctx)

        return asyncio.run_coroutine_threadsafe(call(), server.loop).result(timeout)

    def flush(self) -> None:
        """Write buffered call records now (no-op once stopped)."""
        if self._server is not None:
            self.run(lambda ctx: ctx.recorder.flush())

    # ------------------------------------------------------------------ HTTP

    @property
    def http(self) -> httpx.Client:
        """A sync httpx client with ``base_url`` set (closed at stop)."""
        return self._http

    def get(self, item_id: str | None, token: str | None = None, **params: Any) -> httpx.Response:
        """Call the v2 endpoint with ``Authorization: Bearer <token>``."""
        query = dict(params)
        if item_id is not None:
            query["itemId"] = item_id
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self._http.get(V2_PATH, params=query, headers=headers)

    def admin(self, method: str, path: str, json: Any = None) -> Any:
        """Call ``/api/admin{path}``; returns ``data``; AssertionError unless code 0."""
        response = self._http.request(
            method, "/api/admin" + path, json=json, headers={"X-Admin-Key": self.admin_key}
        )
        body = response.json()
        if body.get("code") != 0:
            raise AssertionError(f"admin {method} {path} failed: {body}")
        return body["data"]

    def make_token(
        self,
        account: str = "acme",
        *,
        balance_yuan: str = "100",
        budget_yuan: str | None = None,
        rate: float | None = None,
        burst: int | None = None,
        daily_quota: int | None = None,
        permissions: list[str] | None = None,
        name: str = "t",
    ) -> str:
        """Create ``account`` if needed (with ``balance_yuan``), then a token; raw token."""
        existing = {a["name"] for a in self.admin("GET", "/accounts")}
        if account not in existing:
            self.admin("POST", "/accounts", {"name": account, "balance_yuan": balance_yuan})
        body: dict[str, Any] = {
            "account": account,
            "name": name,
            "budget_yuan": budget_yuan,
            "rate_limit": rate,
            "burst": burst,
            "daily_quota": daily_quota,
        }
        if permissions is not None:
            body["permissions"] = permissions
        token: str = self.admin("POST", "/tokens", body)["token"]
        return token

    def topup(self, account: str, yuan: str) -> None:
        """Add ``yuan`` (a decimal string) to ``account``'s balance."""
        self.admin("POST", f"/accounts/{account}/topup", {"amount_yuan": str(yuan)})

    # ------------------------------------------------------------------- SQL

    def _sync_engine(self) -> sa.Engine:
        if self._engine is None:
            url = sa.engine.make_url(self.db_url)
            self._engine = sa.create_engine(url.set(drivername=url.get_backend_name()))
        return self._engine

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Run ``sql`` synchronously (after flushing call records); all rows."""
        self.flush()
        with self._sync_engine().connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]

    def execute(self, sql: str, **params: Any) -> None:
        """Run one statement synchronously and commit it (e.g. fault injection)."""
        with self._sync_engine().begin() as conn:
            conn.execute(sa.text(sql), params)

    def scalar(self, sql: str, **params: Any) -> Any:
        """Run ``sql`` synchronously (after flushing call records); first column of row 1."""
        self.flush()
        with self._sync_engine().connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()


@contextmanager
def live_server(
    *,
    clock: Clock | None = None,
    collector: Collector | str | None = None,
    configure_app: Callable[[FastAPI], None] | None = None,
    log_level: str = "warning",
    **settings_overrides: Any,
) -> Iterator[LiveServer]:
    """Run the real app on 127.0.0.1 (free port, temp SQLite) for the ``with`` block.

    ``collector`` is a collector object, or the name of one (the ``collector`` setting,
    e.g. ``"relay"``).
    """
    if isinstance(collector, str):
        settings_overrides["collector"] = collector
        collector = None
    own_home = "home" not in settings_overrides and "database_url" not in settings_overrides
    home = Path(tempfile.mkdtemp(prefix="jditem-live-")) if own_home else None
    admin_key = secrets.token_urlsafe(32)
    values: dict[str, Any] = {**TEST_DEFAULTS, "admin_key": admin_key}
    if "database_url" not in settings_overrides and _default_overrides is not None:
        values.update(_default_overrides())
    if home is not None:
        values["home"] = home
    values.update(settings_overrides)
    if values.get("admin_key") is not None and not isinstance(values["admin_key"], str):
        admin_key = values["admin_key"].get_secret_value()
    else:
        admin_key = values.get("admin_key") or ""
    settings = Settings(**values)
    app = create_app(settings, clock=clock, collector=collector)
    if configure_app is not None:
        configure_app(app)
    server = LiveServer(app, settings, admin_key, log_level)
    try:
        server._start()
        yield server
    finally:
        server.stop()
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)
