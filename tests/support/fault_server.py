"""A scripted fault server: real HTTP on 127.0.0.1 in a thread, misbehaving on purpose.

Each incoming request consumes the next action of the script (the last one repeats;
:meth:`FaultServer.behave` replaces the script while the server runs). Actions are
:class:`Reply` (any status, headers and raw body bytes — codes as strings, HTML,
truncated JSON, empty bodies — optionally after a delay before the headers, optionally
echoing the token the request carried), :class:`Reset` (read the request, then reset
the connection without answering), :class:`Trickle` (headers, then a body one byte at
a time, never finished) and :class:`Stream` (a body of any size, generated while it is
sent, so a 100 MB answer costs this process nothing).

Usage::

    with FaultServer([Reply.envelope(102, {"taskStatus": "queued", "retryAfter": 0}),
                      Reply.envelope(0, PRODUCT)]) as server:
        client = Client("tok", base_url=server.base_url)
        ...
        assert len(server.requests) == 2

Every connection is closed after one answer (``Connection: close``), so a reset or a
delay affects exactly one call. ``stop()`` interrupts pending delays and trickles; all
waits are bounded. ``arrived`` is set when a request has been read (the test knows the
call is in flight).
"""

from __future__ import annotations

import json
import socket
import socketserver
import struct
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

HEAD_LIMIT = 65536
SOCKET_TIMEOUT = 5.0
#: The placeholder a :class:`Reply` with ``echo=True`` replaces with the request's token.
TOKEN_PLACEHOLDER = "{{token}}"
#: Longest a :class:`Trickle` goes on (a stuck client cannot hold a thread forever).
TRICKLE_LIMIT_SECONDS = 120.0


@dataclass(frozen=True)
class Reply:
    """Answer with ``status``, ``headers`` and exactly ``body`` after ``delay`` seconds."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    #: Replace :data:`TOKEN_PLACEHOLDER` in the body and headers with the request's token.
    echo: bool = False

    @classmethod
    def json(
        cls, value: Any, status: int = 200, headers: dict[str, str] | None = None, **kw: Any
    ) -> Reply:
        """A JSON body (any value, not necessarily an envelope)."""
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        return cls(status, json.dumps(value).encode(), all_headers, **kw)

    @classmethod
    def envelope(
        cls,
        code: int | str,
        data: Any = None,
        *,
        status: int = 200,
        message: str = "scripted",
        request_id: str = "req-fault",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        echo: bool = False,
    ) -> Reply:
        """A full envelope with ``code`` (an int, or a string to test code-as-string)."""
        body = {
            "code": code,
            "message": message,
            "data": data,
            "recordTime": "2026-01-01T00:00:00+08:00",
            "requestId": request_id,
        }
        return cls.json(body, status, headers, delay=delay, echo=echo)

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/html") -> Reply:
        """A non-JSON body (HTML error pages, truncated JSON, ...)."""
        return cls(status, text.encode(), {"Content-Type": content_type})


@dataclass(frozen=True)
class Reset:
    """Read the request, then reset the connection (RST) without answering."""


@dataclass(frozen=True)
class Trickle:
    """Send the head (a ``Content-Length`` of ``length``), then one body byte every
    ``interval`` seconds — never the whole body (until the client hangs up or stop())."""

    status: int = 200
    length: int = 10_000
    interval: float = 0.05


@dataclass(frozen=True)
class Stream:
    """A ``size``-byte body — ``head``, filler bytes, ``tail`` — generated while sent.

    ``Content-Length`` is announced unless ``announce`` is False (the body then ends
    when the connection closes).
    """

    head: bytes
    tail: bytes
    size: int
    status: int = 200
    announce: bool = True
    filler: bytes = b"x"

    @classmethod
    def envelope(cls, size: int, item_id: str = "1", *, announce: bool = True) -> Stream:
        """A valid code-0 envelope of ``size`` bytes: a product with a huge field."""
        head = (
            b'{"code":0,"message":"success","requestId":"req-huge","data":{"skuId":"'
            + item_id.encode()
            + b'","title":"huge","pad":"'
        )
        return cls(head, b'"}}', size, announce=announce)


Action = Reply | Reset | Trickle | Stream


@dataclass(frozen=True)
class RecordedRequest:
    """What the server saw (for assertions; tests use fake tokens only)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized",
            402: "Payment Required", 403: "Forbidden", 404: "Not Found",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable"}  # fmt: skip


class FaultServer:
    """The scripted server; use as a context manager. ``base_url`` is ``http://127.0.0.1:N``."""

    def __init__(self, script: list[Action]) -> None:
        if not script:
            raise ValueError("the script needs at least one action")
        self._script = list(script)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.requests: list[RecordedRequest] = []
        self.arrived = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer._handle(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def behave(self, *script: Action) -> None:
        """Replace the script (from the next request on) and clear ``arrived``."""
        if not script:
            raise ValueError("the script needs at least one action")
        with self._lock:
            self._script = list(script)
            self.arrived.clear()

    # -- serving -----------------------------------------------------------------------

    def _next_action(self) -> Action:
        with self._lock:
            return self._script.pop(0) if len(self._script) > 1 else self._script[0]

    def _handle(self, sock: socket.socket) -> None:
        sock.settimeout(SOCKET_TIMEOUT)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < HEAD_LIMIT:
                chunk = sock.recv(4096)
                if not chunk:
                    return
                head += chunk
        except OSError:
            return
        token = self._record(head)
        action = self._next_action()
        self.arrived.set()
        try:
            if isinstance(action, Reset):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            elif isinstance(action, Trickle):
                self._trickle(sock, action)
            elif isinstance(action, Stream):
                self._stream(sock, action)
            else:
                self._reply(sock, action, token)
        except OSError:
            return

    @staticmethod
    def _head(status: int, headers: dict[str, str]) -> bytes:
        reason = _REASONS.get(status, "Status")
        lines = [f"HTTP/1.1 {status} {reason}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _reply(self, sock: socket.socket, action: Reply, token: str) -> None:
        if action.delay and self._stop.wait(action.delay):
            return
        body, headers = action.body, dict(action.headers)
        if action.echo:
            body = body.replace(TOKEN_PLACEHOLDER.encode(), token.encode())
            headers = {k: v.replace(TOKEN_PLACEHOLDER, token) for k, v in headers.items()}
        sock.sendall(self._head(action.status, {"Content-Length": str(len(body)), **headers}))
        sock.sendall(body)

    def _trickle(self, sock: socket.socket, action: Trickle) -> None:
        head = {"Content-Type": "application/json", "Content-Length": str(action.length)}
        sock.sendall(self._head(action.status, head))
        deadline = time.monotonic() + TRICKLE_LIMIT_SECONDS
        sent = 0
        while sent < action.length - 1 and time.monotonic() < deadline:
            if self._stop.wait(action.interval):
                return
            sock.sendall(b"{" if sent == 0 else b" ")
            sent += 1

    def _stream(self, sock: socket.socket, action: Stream) -> None:
        head = {"Content-Type": "application/json"}
        if action.announce:
            head["Content-Length"] = str(action.size)
        sock.sendall(self._head(action.status, head))
        sock.sendall(action.head)
        left = action.size - len(action.head) - len(action.tail)
        chunk = action.filler * (65536 // len(action.filler))
        while left > 0 and not self._stop.is_set():
            piece = chunk[: min(left, len(chunk))]
            sock.sendall(piece)
            left -= len(piece)
        sock.sendall(action.tail)

    def _record(self, head: bytes) -> str:
        """Record the request; returns the token it carried (query or Bearer), or ''."""
        text = head.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        request_line, *header_lines = text.split("\r\n")
        method, target, _ = ([*request_line.split(" ", 2), "", ""])[:3]
        parts = urlsplit(target)
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        query = parse_qs(parts.query)
        with self._lock:
            self.requests.append(RecordedRequest(method, parts.path, query, headers))
        bearer = headers.get("authorization", "").partition(" ")[2]
        return query.get("token", [bearer])[0]
