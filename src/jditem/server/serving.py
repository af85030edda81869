"""Serving over HTTP/1.1 with limits: uvicorn + h11, configured from :class:`Settings`.

:func:`uvicorn_config` is the one place the server's connection-level limits are
applied (``jditem serve`` and the test server use it):

* the request head size, framing, header-read and keep-alive timeouts and the
  connection cap, per connection (:mod:`jditem.server.http_guard`);
* the header count — more than ``max_request_headers`` fields answer 431
  (:class:`HeaderCountLimit`, an ASGI middleware, reading the headers h11 parsed);
* NUL characters in URLs answer 400 (:class:`NoNulInUrls`).

The HTTP parser is pinned to h11 (the httptools parser has no head-size limit).
:func:`run_processes` serves one listening socket from several forked API processes.
"""

from __future__ import annotations

import copy
import logging
import logging.config
import multiprocessing
import signal
import socket
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from jditem.protocol.codes import Code
from jditem.server.http_guard import envelope_http_bytes, protocol_for
from jditem.server.settings import Settings


class HeaderCountLimit:
    """ASGI middleware: more than ``max_headers`` header fields answer 431 (envelope)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.settings.max_request_headers
        if scope["type"] != "http" or len(scope["headers"]) <= limit:
            await self.app(scope, receive, send)
            return
        status, headers, body = envelope_http_bytes(
            self.settings, 431, Code.INVALID_PARAMS, f"more than {limit} header fields"
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class NoNulInUrls:
    """ASGI middleware: a NUL character in the decoded path or query answers 400.

    No identifier contains one, and PostgreSQL cannot compare text with NUL, so such a
    URL could only turn into a database error; it is refused before any handler runs.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ("\x00" in scope["path"] or b"%00" in scope["query_string"]):
            status, headers, body = envelope_http_bytes(
                self.settings, 400, Code.INVALID_PARAMS, "NUL characters are not allowed in URLs"
            )
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration plus the ``jditem`` loggers: INFO and above on
    stderr in uvicorn's format (``WARNING:  redis … is unreachable``), tokens redacted."""
    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": "jditem.redaction.RedactingFilter"}
    config["handlers"]["jditem"] = {
        "formatter": "default",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "filters": ["redact"],
    }
    config["loggers"]["jditem"] = {"handlers": ["jditem"], "level": "INFO", "propagate": False}
    return config


def configure_logging() -> None:
    """Apply :func:`log_config` (``jditem worker``; ``jditem serve`` gets it from uvicorn)."""
    logging.config.dictConfig(log_config())


def uvicorn_config(app: ASGIApp, settings: Settings, **options: Any) -> uvicorn.Config:
    """A ``uvicorn.Config`` for ``app`` with the limits of ``settings`` (see above).

    ``options`` are passed to ``uvicorn.Config`` (host, port, log settings, …) and win
    over the values taken from ``settings`` (e.g. a test server's longer keep-alive).
    """
    values: dict[str, Any] = {
        "http": protocol_for(settings),
        "h11_max_incomplete_event_size": settings.max_request_head_bytes,
        "timeout_keep_alive": settings.keep_alive_seconds,
        # forwarded headers only from the proxies the operator listed (default: none)
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies) or None,
        "log_config": log_config(),
    }
    values.update(options)
    return uvicorn.Config(app, **values)


log = logging.getLogger("jditem.server")

#: A child that dies this soon after its start counts as a crash loop.
_EARLY_DEATH_SECONDS = 5.0
_MAX_EARLY_DEATHS = 5


def _serve_child(settings: Settings, sock: socket.socket, log_level: str) -> None:
    """One API process: its own app, engine, workers and loop, on the shared socket."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from jditem.server.app import create_app

    config = uvicorn_config(create_app(settings), settings, log_level=log_level)
    uvicorn.Server(config).run(sockets=[sock])


def run_processes(
    settings: Settings, sock: socket.socket, processes: int, *, log_level: str = "info"
) -> None:
    """Serve ``sock`` from ``processes`` forked API processes until SIGINT/SIGTERM.

    Each child builds its own app from ``settings`` after the fork (nothing with a loop
    or a connection crosses it); the kernel spreads connections over the children that
    accept on the one listening socket. A child that dies is replaced (a crash loop of
    children dying within seconds of their start stops the server instead); on a signal
    every child gets SIGTERM and finishes its requests (uvicorn's graceful shutdown).
    """
    context = multiprocessing.get_context("fork")
    stopping = False

    def start() -> BaseProcess:
        child = context.Process(
            target=_serve_child, args=(settings, sock, log_level), name="jditem-api"
        )
        child.start()
        return child

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    children = {start(): time.monotonic() for _ in range(processes)}
    early_deaths = 0
    try:
        while not stopping:
            wait([child.sentinel for child in children], timeout=0.5)
            for child, started in list(children.items()):
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
                children[start()] = time.monotonic()
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
