"""A webhook receiver on 127.0.0.1 in a thread: records each POST and answers it.

``WebhookReceiver(status=204)`` answers every request with ``status``; ``statuses``
answers the n-th request with its n-th entry (the last one repeats); ``hold`` (a
``threading.Event``) keeps every request waiting until it is set (a hanging receiver;
bounded by ``HOLD_LIMIT``, and released at exit); give it an
``ssl_context`` (a server context, e.g. from ``trustme``) to serve TLS, and it records
the TLS server names (SNI) its clients asked for in ``server_names``. Used as a context
manager; ``received`` lists what arrived (method, path, headers with lower-case names,
body)."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

#: The longest a held request waits (a bound, far beyond any test's need).
HOLD_LIMIT = 120.0


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """See the module docstring."""

    def __init__(
        self,
        *,
        status: int = 204,
        body: bytes = b"",
        ssl_context: ssl.SSLContext | None = None,
        statuses: Sequence[int] = (),
        hold: threading.Event | None = None,
    ) -> None:
        self.received: list[Received] = []
        self.hold = hold
        self.server_names: list[str | None] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                data = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                with outer._lock:
                    outer.received.append(Received("POST", self.path, headers, data))
                    n = len(outer.received)
                if outer.hold is not None:
                    outer.hold.wait(HOLD_LIMIT)
                answer = statuses[min(n, len(statuses)) - 1] if statuses else status
                try:
                    self.send_response(answer)
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the sender is gone (killed, or gave up on a held request)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if ssl_context is not None:
            ssl_context.sni_callback = self._remember_sni
            self._server.socket = ssl_context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port: int = self._server.server_address[1]
        scheme = "https" if ssl_context is not None else "http"
        self.base_url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _remember_sni(self, sock: Any, name: str | None, context: Any) -> None:
        with self._lock:
            self.server_names.append(name)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.hold is not None:
            self.hold.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
