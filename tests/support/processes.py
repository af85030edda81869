"""A scale-out deployment of real processes on loopback, for the chaos tests.

:func:`scale_out` starts what the README's "Scale out" section runs::

    jditem serve --processes 2 --workers 0 --db URL --redis URL --port P
    jditem worker --db URL --redis URL --workers M      (twice)

against a fresh PostgreSQL database of the session's cluster and the session's Redis,
each process with its own log file, and waits (bounded) until the API answers.
:class:`Deployment` knows the process ids (the API processes' from uvicorn's
"Started server process [pid]" lines), can kill -9 any of them, start more workers,
and query the database synchronously. Everything is stopped at the end of the block.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from tests.support.postgres import PgCluster
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

START_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
V2_PATH = "/api/jd/get-item-detail/v2"
JDITEM = [str(Path(sys.executable).with_name("jditem"))]  # this venv's console script


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Proc:
    """One started process and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, condition: Callable[[], object], what: str, timeout: float = 60.0) -> None:
        """:func:`~tests.support.waiting.wait_until` ``condition``, failing at once (with
        the process's log) if the process exits, and with its log on timeout."""

        def holds() -> object:
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited ({self.popen.returncode}):\n{self.text()}"
                )
            return condition()

        try:
            wait_until(holds, what, timeout=timeout, interval=0.05)
        except AssertionError as exc:
            if self.popen.poll() is not None:
                raise
            raise AssertionError(f"{exc}\n{self.text()[-3000:]}") from None

    def kill9(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(STOP_TIMEOUT)


@dataclass
class Deployment:
    """The running processes (see the module docstring)."""

    root: Path
    env: dict[str, str]
    db_url: str
    sync_db_url: str
    redis_url: str
    port: int
    admin_key: str
    procs: list[Proc] = field(default_factory=list)
    _engine: sa.Engine | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> Proc:
        """Start ``jditem ARGS`` with its output in ``<root>/<name>.log``."""
        log = self.root / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [*JDITEM, *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**self.env, **(env or {})},
                cwd=self.root,
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def start_worker(self, name: str, workers: int = 4, **env: str) -> Proc:
        """``jditem worker --db URL --redis URL --workers N``; waits until it is ready."""
        proc = self.start(
            name,
            "worker",
            "--db",
            self.sync_db_url,
            "--redis",
            self.redis_url,
            "--workers",
            str(workers),
            env=env,
        )
        proc.wait_for(lambda: "worker ready" in proc.text(), f"{name} to start")
        return proc

    def api_pids(self) -> list[int]:
        """Process ids of the API processes (uvicorn's children) started so far."""
        api = next(p for p in self.procs if p.name == "api")
        return [int(m) for m in re.findall(r"Started server process \[(\d+)\]", api.text())]

    def admin(self, method: str, path: str, json: Any = None) -> Any:
        response = httpx.request(
            method,
            f"{self.base_url}/api/admin{path}",
            json=json,
            headers={"X-Admin-Key": self.admin_key},
            timeout=30.0,
        )
        body = response.json()
        assert body.get("code") == 0, body
        return body["data"]

    def make_token(self, account: str, **fields: Any) -> str:
        """Create ``account`` (balance ``balance_yuan``, default 100) if new, then a token."""
        balance = fields.pop("balance_yuan", "100")
        if account not in {a["name"] for a in self.admin("GET", "/accounts")}:
            self.admin("POST", "/accounts", {"name": account, "balance_yuan": balance})
        body = {"account": account, "name": "t", **fields}
        token: str = self.admin("POST", "/tokens", body)["token"]
        return token

    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = sa.create_engine(self.db_url.replace("+asyncpg", "+psycopg"))
        return self._engine

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine().connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def stop(self) -> None:
        """SIGTERM every process (bounded), then SIGKILL what is left."""
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            if proc.popen.poll() is None:
                proc.kill9()
        if self._engine is not None:
            self._engine.dispose()


def answers(url: str) -> bool:
    try:
        return httpx.get(url + "/api/health", timeout=5.0).json()["code"] == 0
    except (httpx.HTTPError, ValueError):
        return False


@contextmanager
def scale_out(
    cluster: PgCluster,
    redis: RedisServer,
    *,
    processes: int = 2,
    workers: int = 2,
    worker_threads: int = 8,
    **settings: str,
) -> Iterator[Deployment]:
    """Start PostgreSQL-backed API processes + workers (see the module docstring).

    ``settings`` are extra ``JDITEM_*`` variables (name without the prefix, lower case).
    """
    root = Path(tempfile.mkdtemp(prefix="jditem-scale-"))
    database = cluster.create_database("scale")
    admin_key = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "JDITEM_HOME": str(root),
        "JDITEM_ADMIN_KEY": admin_key,
        "JDITEM_SANDBOX_LATENCY_MS": "[100, 200]",
        "JDITEM_DEFAULT_RATE_LIMIT": "100000",
        "JDITEM_DEFAULT_BURST": "100000",
        "JDITEM_CALL_RECORD_FLUSH_SECONDS": "0.2",
        **{f"JDITEM_{k.upper()}": v for k, v in settings.items()},
    }
    env.pop("JDITEM_REDIS_URL", None)
    env.pop("JDITEM_DATABASE_URL", None)
    deployment = Deployment(
        root=root,
        env=env,
        db_url=cluster.url(database),
        sync_db_url=cluster.sync_url(database),
        redis_url=redis.url,
        port=free_port(),
        admin_key=admin_key,
    )
    try:
        api = deployment.start(
            "api",
            "serve",
            "--processes",
            str(processes),
            "--workers",
            "0",
            "--db",
            deployment.sync_db_url,
            "--redis",
            redis.url,
            "--port",
            str(deployment.port),
        )
        api.wait_for(lambda: answers(deployment.base_url), "the API to answer", START_TIMEOUT)
        api.wait_for(lambda: len(deployment.api_pids()) >= processes, "all API processes", 30.0)
        for n in range(workers):
            deployment.start_worker(f"worker{n + 1}", worker_threads)
        yield deployment
    finally:
        deployment.stop()
        cluster.drop_database(database)
        shutil.rmtree(root, ignore_errors=True)
