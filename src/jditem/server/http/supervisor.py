"""The pre-fork supervisor of ``jditem serve --processes N``: N API processes, one socket.

The processes share the parent's listening socket and spread its connections by
least-connections accept (:mod:`jditem.server.http.accept`).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from starlette.types import ASGIApp

from jditem.server.http.accept import WAIT_SECONDS, ConnectionCounts, LeastConnectionsServer
from jditem.server.http.config import uvicorn_config
from jditem.server.settings import Settings

#: Builds one process's app from the settings (``jditem.server.app.create_app``).
AppFactory = Callable[[Settings], ASGIApp]

log = logging.getLogger("jditem.server")

#: A child that dies this soon after its start counts as a crash loop.
_EARLY_DEATH_SECONDS = 5.0
_MAX_EARLY_DEATHS = 5


def _serve_child(
    app_factory: AppFactory,
    settings: Settings,
    sock: socket.socket,
    log_level: str,
    accepting: tuple[ConnectionCounts, int, float],
) -> None:
    """One API process: its own app, engine, workers and loop, on the shared socket."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    counts, index, wait_seconds = accepting
    config = uvicorn_config(app_factory(settings), settings, log_level=log_level)
    server = LeastConnectionsServer(config, sock, counts, index, wait_seconds=wait_seconds)
    server.run(sockets=[])


def run_processes(
    app_factory: AppFactory,
    settings: Settings,
    sock: socket.socket,
    processes: int,
    *,
    log_level: str = "info",
    accept_wait_seconds: float = WAIT_SECONDS,
) -> None:
    """Serve ``sock`` from ``processes`` forked API processes until SIGINT/SIGTERM.

    Each child builds its own app with ``app_factory(settings)`` after the fork (nothing with a loop
    or a connection crosses it). Each child accepts from the one listening socket while
    it holds no more connections than the least loaded child, or once a pending
    connection has waited ``accept_wait_seconds`` (:mod:`~jditem.server.http.accept`). A
    child that dies is replaced (a crash loop of children dying within seconds of their
    start stops the server instead); on a signal every child gets SIGTERM and finishes
    its requests (uvicorn's graceful shutdown).
    """
    context = multiprocessing.get_context("fork")
    counts = ConnectionCounts(context, processes)
    stopping = False

    def start(index: int) -> BaseProcess:
        child = context.Process(
            target=_serve_child,
            args=(app_factory, settings, sock, log_level, (counts, index, accept_wait_seconds)),
            name="jditem-api",
        )
        child.start()
        return child

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    children = {start(index): (index, time.monotonic()) for index in range(processes)}
    early_deaths = 0
    try:
        while not stopping:
            wait([child.sentinel for child in children], timeout=0.5)
            for child, (index, started) in list(children.items()):
                if child.is_alive() or stopping:
                    continue
                del children[child]
                log.warning(
                    "API process %s exited (%s); starting another", child.pid, child.exitcode
                )
                early_deaths = (
                    early_deaths + 1 if time.monotonic() - started < _EARLY_DEATH_SECONDS else 0
                )
                if early_deaths >= _MAX_EARLY_DEATHS:
                    log.error("API processes keep dying at start; stopping")
                    stopping = True
                    break
                counts.leave(index)  # the others must not wait for the dead one
                children[start(index)] = (index, time.monotonic())
    finally:
        for child in children:
            if child.is_alive() and child.pid is not None:
                child.terminate()
        deadline = time.monotonic() + 30
        for child in children:
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                child.kill()
                child.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
