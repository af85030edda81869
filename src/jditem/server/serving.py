"""Serving over HTTP/1.1 with limits: uvicorn + h11, configured from :class:`Settings`.

:func:`uvicorn_config` is the one place the server's connection-level limits are
applied (``jditem serve`` and the test server use it):

* **Request head size** — h11's own ``max_incomplete_event_size`` bounds the request
  line plus headers (``max_request_head_bytes``); a client that sends more is answered
  at once, 414 when no line ended yet (the request line is too long), else 431, and
  the connection closes. Memory per connection stays bounded by that size.
* **Header count** — more than ``max_request_headers`` fields answer 431
  (:class:`HeaderCountLimit`, an ASGI middleware, reading the headers h11 parsed).
* **Header-read timeout** — a request head not complete within
  ``header_timeout_seconds`` of its first byte (or of the connection opening) is
  answered 408 and closed, so clients trickling header lines cannot hold connections.
* **Keep-alive timeout** — uvicorn's ``timeout_keep_alive`` = ``keep_alive_seconds``.
* **Connection cap** — beyond ``max_connections`` open connections a new one is
  answered 503 with ``Retry-After`` at once and closed (no file descriptor is held).

Errors answered at this level use the envelope and close the connection. The HTTP
parser is pinned to h11 (the httptools parser has no head-size limit).
"""

from __future__ import annotations

import asyncio
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

import h11
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from jditem.protocol.codes import Code
from jditem.server.api.envelope import (
    JSON_MEDIA_TYPE,
    REQUEST_ID_HEADER,
    envelope_bytes,
    http_status_for,
    new_request_id,
)
from jditem.server.settings import Settings
from jditem.server.tasks.clock import iso_local, utc_now

_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    408: b"Request Timeout",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


def envelope_http_bytes(
    settings: Settings,
    status: int,
    code: Code,
    message: str,
    extra_headers: tuple[tuple[bytes, bytes], ...] = (),
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) of an envelope answer that closes the connection."""
    request_id = new_request_id()
    body = envelope_bytes(
        code,
        message,
        b"null",
        request_id=request_id,
        record_time=iso_local(utc_now(), settings.timezone),
    )
    status = http_status_for(code, settings, status)
    headers = [
        (b"content-type", JSON_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        (REQUEST_ID_HEADER.lower().encode(), request_id.encode()),
        *extra_headers,
    ]
    return status, headers, body


def _raw(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    head = b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Error"))
    head += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return head + b"\r\n" + body


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a header-read timeout, a connection cap and envelope
    answers for oversized heads (see the module docstring). ``settings`` is set on the
    subclass :func:`protocol_for` makes."""

    settings: Settings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._head_line_seen = False
        self._refused = False

    # -------------------------------------------------------------- connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if len(self.connections) >= self.settings.max_connections:
            self._refused = True
            self.transport = transport  # type: ignore[assignment]
            status, headers, body = envelope_http_bytes(
                self.settings,
                503,
                Code.INTERNAL_ERROR,
                "server busy: too many open connections; retry in a few seconds",
                ((b"retry-after", b"2"),),
            )
            transport.write(_raw(status, headers, body))  # type: ignore[attr-defined]
            transport.close()
            return
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        if self._refused:
            return
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self.conn.their_state is h11.IDLE:
            if self._head_timer is None:
                self._head_bytes, self._head_line_seen = 0, False
                self._arm_head_timer()
            self._head_bytes += len(data)
            self._head_line_seen = self._head_line_seen or b"\n" in data
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._cancel_head_timer()  # the request head is complete

    # -------------------------------------------------------- header timeout

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(
            self.settings.header_timeout_seconds, self._head_timed_out
        )

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self._head_bytes == 0:  # nothing sent at all: just close, like keep-alive does
            self.transport.close()
            return
        status, headers, body = envelope_http_bytes(
            self.settings,
            408,
            Code.INVALID_PARAMS,
            f"the request line and headers did not arrive within "
            f"{self.settings.header_timeout_seconds:g} s",
        )
        self.transport.write(_raw(status, headers, body))
        self.transport.close()

    # ------------------------------------------------------ malformed heads

    def send_400_response(self, msg: str) -> None:
        """Answer a request h11 refused, with the envelope and the fitting status."""
        limit = self.settings.max_request_head_bytes
        if self._head_bytes > limit and not self._head_line_seen:
            status, message = 414, f"the request line is longer than {limit} bytes"
        elif self._head_bytes > limit:
            status, message = (
                431,
                f"the request line and headers are larger than {limit} bytes together",
            )
        else:
            status, message = 400, "malformed HTTP request"
        status, headers, body = envelope_http_bytes(
            self.settings, status, Code.INVALID_PARAMS, message
        )
        output = self.conn.send(h11.Response(status_code=status, headers=headers))
        output = (output or b"") + (self.conn.send(h11.Data(data=body)) or b"")
        output += self.conn.send(h11.EndOfMessage()) or b""
        self.transport.write(output)
        self.transport.close()


def protocol_for(settings: Settings) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` subclass bound to ``settings``."""
    return type("JditemH11Protocol", (GuardedH11Protocol,), {"settings": settings})


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
    config.setdefault("filters", {})["redact"] = {"()": "jditem.server.logging.RedactTokenFilter"}
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
