"""Least-connections accept (jditem.server.http.accept) with real forked processes.

Two processes serve one listening socket on loopback through
:class:`LeastConnectionsServer` (uvicorn with the guarded h11 protocol, as ``jditem
serve --processes 2`` runs them); the app answers the process id. Keep-alive
connections are opened one after another, each used once before the next opens.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
from starlette.types import Receive, Scope, Send

from jditem.server.http.accept import ConnectionCounts, LeastConnectionsServer
from jditem.server.http.config import uvicorn_config
from jditem.server.settings import Settings
from tests.support.waiting import GENEROUS, wait_until


async def _pid_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})


def _child(sock: socket.socket, counts: ConnectionCounts, index: int, wait: float) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    config = uvicorn_config(_pid_app, Settings(), log_level="warning", access_log=False)
    LeastConnectionsServer(config, sock, counts, index, wait_seconds=wait).run(sockets=[])


@contextmanager
def _serving(wait_seconds: float) -> Iterator[tuple[str, list[int], ConnectionCounts]]:
    """Two accepting processes on one socket: (base URL, their pids, their counts)."""
    context = multiprocessing.get_context("fork")
    counts = ConnectionCounts(context, 2)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    children = [
        context.Process(target=_child, args=(sock, counts, i, wait_seconds)) for i in range(2)
    ]
    for child in children:
        child.start()
    try:
        wait_until(
            lambda: all(counts.held(i) is not None for i in range(2)), "both processes accept"
        )
        pids = [c.pid or 0 for c in children]
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", pids, counts
    finally:
        for child in children:
            if child.pid is not None:
                os.kill(child.pid, signal.SIGCONT)  # a test may have stopped one
            child.terminate()
        for child in children:
            child.join(GENEROUS)
        sock.close()


def _open_one_by_one(base_url: str, n: int, stack: ExitStack) -> list[int]:
    """Open ``n`` keep-alive connections, each used once (and held) before the next."""
    served = []
    for _ in range(n):
        one = httpx.Limits(max_connections=1)
        client = stack.enter_context(httpx.Client(base_url=base_url, timeout=GENEROUS, limits=one))
        served.append(int(client.get("/").text))
    return served


def test_connections_split_evenly_over_the_processes() -> None:
    """With a waiting bound longer than the test, the split is exact: the process that
    holds more connections leaves each new one to the other."""
    with _serving(wait_seconds=GENEROUS) as (base_url, pids, _), ExitStack() as stack:
        served = Counter(_open_one_by_one(base_url, 8, stack))
        assert served == {pids[0]: 4, pids[1]: 4}


def test_a_stuck_process_does_not_stall_new_connections() -> None:
    """One process stopped (SIGSTOP): the other takes every connection once each has
    waited its short bound, though it then holds more than the stuck one."""
    with _serving(wait_seconds=0.05) as (base_url, pids, _), ExitStack() as stack:
        os.kill(pids[0], signal.SIGSTOP)
        served = _open_one_by_one(base_url, 4, stack)
        assert served == [pids[1]] * 4


def test_closed_connections_leave_the_count() -> None:
    """Connections that close leave their process's count, so the split stays even."""
    with _serving(wait_seconds=GENEROUS) as (base_url, pids, counts):
        with ExitStack() as stack:
            first = _open_one_by_one(base_url, 3, stack)
            assert sorted(Counter(first).values()) == [1, 2]
            wait_until(lambda: {counts.held(0), counts.held(1)} == {1, 2}, "counts 1 and 2")
        wait_until(lambda: counts.held(0) == counts.held(1) == 0, "both counts back to 0")
        with ExitStack() as stack:
            again = Counter(_open_one_by_one(base_url, 4, stack))
        assert again == {pids[0]: 2, pids[1]: 2}
