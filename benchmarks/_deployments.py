"""Benchmark helper for ``scale_out.py``: the two deployments it starts and a timed round.

:func:`embedded` and :func:`scale_out` start ``jditem serve`` (and ``jditem worker``) as
subprocesses, create a funded account and a rate-limited token through the admin API,
collect the benchmark's item once (cached from then on) and yield a :class:`Deployment`:
its processes by role for the CPU figures (``/proc``), its database for the money rule.
:func:`timed_round` loads one with wrk and returns the CPU seconds per role, the calls
it charged, the keep-alive connections per API process and the Redis commands.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from jditem.server import devservices

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _money import MONEY_SQL, Money, check_money, sqlite_money  # noqa: E402
from _procstat import children, established_by_pid, proc_times, tree_cpu  # noqa: E402
from server_hot_path import (  # noqa: E402
    ADMIN_KEY,
    ITEM,
    PATH,
    Result,
    free_port,
    run_wrk,
    server_env,
    wait_ready,
)

JDITEM = str(Path(sys.executable).with_name("jditem"))
BALANCE_YUAN = "100000000"


@contextmanager
def running(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` running (stdout+stderr to ``log``); SIGTERM, then SIGKILL, on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=log.parent
        )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _admin(base: str, method: str, path: str, json: Any = None) -> Any:
    body = httpx.request(
        method, f"{base}/api/admin{path}", json=json, headers={"X-Admin-Key": ADMIN_KEY}
    ).json()
    assert body["code"] == 0, body
    return body["data"]


def make_token(base: str) -> str:
    _admin(base, "POST", "/accounts", {"name": "bench", "balance_yuan": BALANCE_YUAN})
    token: str = _admin(base, "POST", "/tokens", {"account": "bench", "name": "b"})["token"]
    return token


def wait_health(base: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/api/health", timeout=5).json()["code"] == 0:
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"{base} did not become healthy within {seconds:.0f} s")


# ----------------------------------------------------------------- deployments


@dataclass
class Deployment:
    """A running deployment: its processes, its database, and how to load it."""

    name: str
    port: int
    serve: subprocess.Popen[bytes]
    money: Callable[[], Money]
    scale_out: bool
    worker: subprocess.Popen[bytes] | None = None
    postmaster: Callable[[], int] | None = None
    redis_pid: Callable[[], int] | None = None
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    start: Money | None = None
    answered: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api_pids(self) -> list[int]:
        """The processes that serve HTTP: the forked children when scaled out, else (and
        with ``--processes 1``, which forks none) the server process itself."""
        forked = children(self.serve.pid) if self.scale_out else []
        return forked or [self.serve.pid]

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far per role (``api:<pid>`` per API process)."""
        pids = self.api_pids()
        roles = {f"api:{pid}": tree_cpu(pid) for pid in pids}
        if self.serve.pid not in pids:  # a supervisor that forked the API processes
            own = proc_times(self.serve.pid)
            roles["supervisor"] = own.own if own is not None else 0.0
        if self.worker is not None:
            roles["worker"] = tree_cpu(self.worker.pid)
        if self.postmaster is not None:
            roles["PostgreSQL"] = tree_cpu(self.postmaster())
        if self.redis_pid is not None:
            roles["Redis"] = tree_cpu(self.redis_pid())
        return roles

    def prepare(self) -> None:
        token = make_token(self.base)
        self.headers = {"Authorization": f"Bearer {token}"}
        self.url = f"{self.base}{PATH}?itemId={ITEM}"
        self.start = self.money()
        wait_ready(self.url, self.headers)  # collects the item once: then it is cached
        self.answered += 1

    def load(self, seconds: float, connections: int) -> Result:
        result = run_wrk(self.url, self.headers, seconds, connections)
        if result.errors:
            raise SystemExit(f"{self.name}: wrk saw {result.errors} errors or non-2xx answers")
        self.answered += result.requests
        return result

    def check(self) -> str:
        assert self.start is not None
        return check_money(self.name, self.money() - self.start, self.answered)


def postgres_money(cluster: devservices.PgCluster, database: str) -> Callable[[], Money]:
    def read() -> Money:
        return Money(*(int(v or 0) for v in cluster.psql(MONEY_SQL, database).split("|")))

    return read


def _pid_file(path: Path) -> Callable[[], int]:
    return lambda: int(path.read_text().split()[0])


@contextmanager
def embedded(trace: Path | None = None) -> Iterator[Deployment]:
    """``jditem serve --db <sqlite>`` (with every SQLite statement counted into
    ``trace`` when given: a separate instance, for counts only)."""
    home = Path(tempfile.mkdtemp(prefix="jditem-bench-emb-"))
    port = free_port()
    db = home / "server.db"
    args = ["serve", "--db", str(db), "--port", str(port), "--workers", "4"]
    if trace is None:
        command = [JDITEM, *args]
    else:
        command = [sys.executable, str(ROOT / "benchmarks" / "_sqlite_trace.py"), str(trace), *args]
    try:
        with running(command, server_env(home), home / "serve.log") as serve:
            deployment = Deployment("embedded", port, serve, sqlite_money(db), scale_out=False)
            wait_health(deployment.base)
            deployment.prepare()
            yield deployment
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def scale_out(
    services: devservices.DevServices, processes: int, baseline_src: Path | None = None
) -> Iterator[Deployment]:
    """``jditem serve --processes N --workers 0`` + ``jditem worker`` on PostgreSQL + Redis;
    ``baseline_src``: run from another checkout's ``src/`` (by ``PYTHONPATH``), with a
    database of its own on the same PostgreSQL and Redis database 1."""
    home = Path(tempfile.mkdtemp(prefix="jditem-bench-so-"))
    cluster = services.postgres
    database = cluster.create_database("bench" if baseline_src is None else "benchbase")
    db_url = cluster.sync_url(database)
    port = free_port()
    redis_url = services.redis_url if baseline_src is None else f"{services.redis_url}?db=1"
    common = ["--db", db_url, "--redis", redis_url]
    serve_args = ["serve", "--processes", str(processes), "--workers", "0", "--port", str(port)]
    env = server_env(home)
    if baseline_src is not None:
        env["PYTHONPATH"] = str(baseline_src.resolve())
    name = f"scale-out ({processes} API processes + worker)"
    try:
        with (
            running([JDITEM, *serve_args, *common], env, home / "serve.log") as serve,
            running(
                [JDITEM, "worker", "--workers", "4", *common], env, home / "worker.log"
            ) as worker,
        ):
            deployment = Deployment(
                name if baseline_src is None else f"{name}, baseline",
                port,
                serve,
                postgres_money(cluster, database),
                scale_out=True,
                worker=worker,
                postmaster=_pid_file(cluster.datadir / "postmaster.pid"),
                redis_pid=_pid_file(services.redis.root / "redis.pid"),
            )
            wait_health(deployment.base)
            deployment.prepare()
            yield deployment
    finally:
        cluster.drop_database(database)
        shutil.rmtree(home, ignore_errors=True)


# ---------------------------------------------------------------------- rounds


@dataclass
class Round:
    """One timed round of one deployment."""

    result: Result
    calls: int
    cpu: dict[str, float]  # CPU seconds in the round, per role
    connections: dict[int, int]  # keep-alive connections per API process, mid-round
    redis_commands: int

    def ms_per_call(self, role: str) -> float:
        if role == "API":
            seconds = sum(v for k, v in self.cpu.items() if k.startswith("api:"))
        elif role == "total":
            seconds = sum(self.cpu.values())
        else:
            seconds = self.cpu.get(role, 0.0)
        return seconds * 1000 / self.calls if self.calls else 0.0

    def api_cpu(self) -> list[float]:
        return [v for k, v in sorted(self.cpu.items()) if k.startswith("api:")]

    def connection_ratio(self) -> float:
        """Most / fewest keep-alive connections held by an API process (a process
        holding none counts as holding one, so the ratio stays a number)."""
        held = list(self.connections.values())
        return max(held) / max(1, min(held)) if len(held) > 1 else 1.0

    def cpu_ratio(self) -> float:
        """Busiest / idlest API process by CPU seconds in the round."""
        each = self.api_cpu()
        return max(each) / max(min(each), 1e-9) if len(each) > 1 else 1.0


def commandstats(client: redis.Redis | None) -> Counter[str]:
    """Redis commands executed so far, by command (``INFO`` itself excluded)."""
    if client is None:
        return Counter()
    stats: dict[str, Any] = client.info("commandstats")
    return Counter(
        {
            key.removeprefix("cmdstat_"): int(value["calls"])
            for key, value in stats.items()
            if key != "cmdstat_info"
        }
    )


def timed_round(
    deployment: Deployment, seconds: float, connections: int, client: redis.Redis | None
) -> Round:
    money_before = deployment.money()
    commands_before = commandstats(client)
    time.sleep(0.2)  # let the query's own database process finish before the CPU snapshot
    cpu_before = deployment.cpu()
    split: dict[int, int] = {}

    def sample() -> None:
        time.sleep(seconds / 2)
        split.update(established_by_pid(deployment.port, deployment.api_pids()))

    sampler = threading.Thread(target=sample)
    sampler.start()
    result = deployment.load(seconds, connections)
    cpu_after = deployment.cpu()
    sampler.join()
    commands = commandstats(client) - commands_before
    calls = (deployment.money() - money_before).charges
    cpu = {role: cpu_after[role] - cpu_before.get(role, 0.0) for role in cpu_after}
    return Round(result, calls, cpu, split, sum(commands.values()))


def median_round(rounds: list[Round]) -> Round:
    ordered = sorted(rounds, key=lambda r: r.ms_per_call("total"))
    return ordered[len(ordered) // 2]
