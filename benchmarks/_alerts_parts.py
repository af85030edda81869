"""Benchmark helper for ``alerts.py``: the receiver, the deployments and the calls.

:class:`Receiver` is an HTTP receiver on 127.0.0.1 recording every attempt and the time
of its answer; :func:`embedded` and :func:`scale_out` start the deployments with the
fast-moving sandbox and loopback webhooks allowed (:data:`SETTINGS`); :class:`Server`
prepares an account (a watch list notifying every kind, endpoints), calls items and
reads the owed events from the pull feed.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _deployments import BALANCE_YUAN, JDITEM, _admin, running, wait_health  # noqa: E402
from server_hot_path import free_port, server_env  # noqa: E402

from jditem.server import devservices  # noqa: E402

#: Sandbox items that change every 1-40 h of sandbox time (``drift.mean_interval``).
ITEMS = [
    str(100012040000 + n) for n in (3991, 3985, 3996, 4002, 4004, 4006, 4009, 4012, 4015, 4017)
]
KINDS = [
    "price_drop",
    "price_rise",
    "new_low",
    "out_of_stock",
    "back_in_stock",
    "promotion_started",
    "promotion_ended",
    "title_changed",
]
#: Common settings: a fast-moving sandbox, no cache, loopback receivers allowed.
SETTINGS = {
    "JDITEM_SANDBOX_DRIFT": "true",
    "JDITEM_SANDBOX_DRIFT_SPEED": "100000",
    "JDITEM_SANDBOX_LATENCY_MS": "[5,20]",
    "JDITEM_RESULT_TTL_SECONDS": "0",
    "JDITEM_WATCH_SCHEDULER": "false",
    "JDITEM_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "JDITEM_WEBHOOK_POLL_SECONDS": "0.25",
}


# ------------------------------------------------------------------- the receiver


@dataclass
class Hit:
    """One attempt as the receiver answered it."""

    at: float  # time.time() when the answer was sent
    path: str
    webhook_id: str
    body: dict[str, Any]
    status: int


class Receiver:
    """An HTTP receiver on 127.0.0.1; ``answer(n)`` decides the status of the n-th request
    (and may sleep: a slow receiver)."""

    def __init__(self, answer: Callable[[int, str], int] = lambda n, path: 204) -> None:
        self.hits: list[Hit] = []
        self.arrived: Counter[str] = Counter()  # requests by path, answered or not
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    n = len(outer.hits)
                    outer.arrived[self.path] += 1
                status = answer(n, self.path)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.send_header("Connection", "close")
                    self.end_headers()
                except (BrokenPipeError, ConnectionResetError):
                    return
                hit = Hit(
                    time.time(), self.path, self.headers["webhook-id"], json.loads(data), status
                )
                with lock:
                    outer.hits.append(hit)

        self._handler = Handler
        self._server = self._listen(0)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def _listen(self, port: int) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", port), self._handler)  # SO_REUSEADDR
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def go_down(self, seconds: float) -> None:
        """Stop accepting and close the listening socket for ``seconds`` (connections are
        refused; those that arrived during the stop, up to the serve loop's 0.5 s poll,
        are reset at the close), then listen again on the same port. Requests already
        accepted are still answered."""
        self.close()
        time.sleep(seconds)
        self._server = self._listen(self.port)

    def delivered(self) -> dict[str, Hit]:
        """The dedup view: the first 2xx per webhook-id."""
        seen: dict[str, Hit] = {}
        for hit in list(self.hits):
            if 200 <= hit.status < 300:
                seen.setdefault(hit.webhook_id, hit)
        return seen


# ------------------------------------------------------------------ deployments


@dataclass
class Server:
    """A deployment under test, seen through its HTTP API."""

    base: str
    token: str = ""
    cursor: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    cursors: dict[str, str | None] = field(default_factory=dict)  # per token (fan-out)
    expected_by: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        answer = httpx.request(
            method,
            self.base + path,
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        ).json()
        assert answer["code"] == 0, answer
        return answer["data"]

    def prepare(
        self,
        *receiver_urls: str,
        account: str = "bench",
        items: list[str] = ITEMS,
        lists: int = 1,
    ) -> str:
        """A funded account with a token, ``items`` dealt into ``lists`` watch lists
        notifying every kind, and an endpoint per URL; returns the token (also kept as
        ``token``)."""
        _admin(self.base, "POST", "/accounts", {"name": account, "balance_yuan": BALANCE_YUAN})
        self.token = _admin(self.base, "POST", "/tokens", {"account": account, "name": "b"})[
            "token"
        ]
        rules = {"kinds": KINDS, "cooldownSeconds": 0}
        for k in range(lists):
            body = {"name": f"bench{k or ''}", "intervalSeconds": 3600, "dailyBudget": "100000"}
            self.api("POST", "/api/watch/lists", {**body, "items": items[k::lists], "rules": rules})
        for url in receiver_urls:
            self.api("POST", "/api/webhooks", {"url": url})
        return self.token

    def drive(
        self,
        seconds: float,
        pause: float = 0.02,
        tokens: list[str] | None = None,
        items: list[str] = ITEMS,
        passes: int = 0,
    ) -> int:
        """Call ``items`` round-robin (for each of ``tokens``: default the own one) for
        ``seconds`` (or ``passes`` times over them all); returns the calls made."""
        pairs = [(t, i) for t in (tokens or [self.token]) for i in items]
        calls = 0
        deadline = time.monotonic() + seconds
        with httpx.Client(base_url=self.base, timeout=30) as http:
            while (calls < passes * len(pairs)) if passes else time.monotonic() < deadline:
                token, item = pairs[calls % len(pairs)]
                http.get(
                    "/api/jd/get-item-detail/v2",
                    params={"itemId": item},
                    headers={"Authorization": f"Bearer {token}"},
                )
                calls += 1
                time.sleep(pause)
        return calls

    def read_feed(self) -> list[dict[str, Any]]:
        """Every event so far (the pull feed, followed from the last cursor)."""
        for _ in range(10_000):
            query = f"?limit=500&cursor={self.cursor}" if self.cursor else "?limit=500"
            page = self.api("GET", "/api/watch/changes" + query)
            self.events.extend(page["events"])
            self.cursor = page["cursor"]
            if not page["hasMore"]:
                break
        return self.events

    def expected(self) -> list[dict[str, Any]]:
        """The events a list's rules notified: each is owed one delivery."""
        return [e for e in self.read_feed() if any(m["notify"] for m in e.get("ruleMatches", []))]


def wait_delivered(receiver: Receiver, ids: set[str], seconds: float) -> set[str]:
    """Wait (bounded) until every id got a 2xx; returns the ids still missing."""
    deadline = time.monotonic() + seconds
    missing = ids - set(receiver.delivered())
    while missing and time.monotonic() < deadline:
        time.sleep(0.2)
        missing = ids - set(receiver.delivered())
    return missing


@contextmanager
def embedded(home: Path, **settings: str) -> Iterator[tuple[Server, subprocess.Popen[bytes]]]:
    port = free_port()
    command = [JDITEM, "serve", "--db", str(home / "server.db"), "--port", str(port)]
    env = server_env(home, **SETTINGS, **settings)
    with running(command, env, home / f"serve-{port}.log") as serve:
        server = Server(f"http://127.0.0.1:{port}")
        wait_health(server.base)
        yield server, serve


@dataclass
class ScaleOut:
    """A running scale-out deployment: its API, and how to start another ``jditem worker``."""

    server: Server
    worker: subprocess.Popen[bytes]
    _command: list[str]
    _env: dict[str, str]
    _home: Path

    def another_worker(self, name: str) -> AbstractContextManager[subprocess.Popen[bytes]]:
        """Start one more ``jditem worker`` on the same database and Redis."""
        return running(self._command, self._env, self._home / f"{name}.log")


@contextmanager
def scale_out(services: devservices.DevServices, home: Path, **settings: str) -> Iterator[ScaleOut]:
    cluster = services.postgres
    database = cluster.create_database("alerts")
    redis.Redis.from_url(services.redis_url).flushdb()  # a fresh deployment: no old keys
    common = ["--db", cluster.sync_url(database), "--redis", services.redis_url]
    port = free_port()
    env = server_env(home, **SETTINGS, **settings)
    serve = [JDITEM, "serve", "--processes", "2", "--workers", "0", "--port", str(port)]
    worker = [JDITEM, "worker", "--workers", "2", *common]
    try:
        with (
            running([*serve, *common], env, home / "serve.log"),
            running(worker, env, home / "worker.log") as first,
        ):
            server = Server(f"http://127.0.0.1:{port}")
            wait_health(server.base)
            yield ScaleOut(server, first, worker, env, home)
    finally:
        cluster.drop_database(database)


def spread(latencies: list[float]) -> dict[str, float]:
    """p50, p95 and max of ``latencies`` (not empty)."""
    ordered = sorted(latencies)
    return {
        "p50": statistics.median(ordered),
        "p95": ordered[max(0, int(len(ordered) * 0.95) - 1)],
        "max": ordered[-1],
    }


def stamp(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 time (``observedAt``)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
