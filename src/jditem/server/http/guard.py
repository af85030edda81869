"""The HTTP/1.1 connection guard: uvicorn's h11 protocol with the server's limits.

:class:`GuardedH11Protocol` (bound to settings by :func:`protocol_for`) adds, per
connection:

* **Request head size** — the request line plus headers (up to and including the empty
  line that ends them) may be at most ``max_request_head_bytes``, however the bytes
  arrive: in one write, byte by byte or in any chunks (:class:`BoundedHeadConnection`
  checks the buffered head before h11 parses it; h11's own bound only covers a head that
  is still incomplete). Larger answers 414 when the request line alone is too long,
  else 431.
* **Framing** — a request with both ``Content-Length`` and ``Transfer-Encoding`` is
  answered 400 and the connection closed (RFC 9112 §6.1: such a request is a request
  smuggling attempt, whatever the server makes of it).
* **Header-read timeout** — a head not complete within ``header_timeout_seconds`` of its
  first byte (or of the connection opening) is answered 408.
* **Keep-alive timeout** — an idle connection is closed after ``keep_alive_seconds``,
  unless a new request has already started to arrive on it.
* **Connection cap** — beyond ``max_connections`` open connections a new one is answered
  503 with ``Retry-After`` at once; when refusals pile up as well (a tenth of the cap,
  at least 16, still closing), further connections are cut without an answer.

Every answer given here uses the envelope and ends the connection without a reset (see
:meth:`GuardedH11Protocol.answer_and_close`).
"""

from __future__ import annotations

import asyncio
import http
import re
import select
from collections.abc import Sequence
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from jditem.protocol.codes import Code
from jditem.server.api.envelope import (
    JSON_MEDIA_TYPE,
    REQUEST_ID_HEADER,
    envelope_bytes,
    http_status_for,
)
from jditem.server.clock import iso_local, utc_now
from jditem.server.http.access_log import access_logger
from jditem.server.ids import new_request_id
from jditem.server.settings import Settings

#: How long a closing connection keeps reading (and dropping) what the client still
#: sends before it is cut: long enough for the client to read the answer and close.
LINGER_SECONDS = 2.0

#: Connections being refused (answered 503, still closing) allowed at once, at least;
#: beyond that (and a tenth of the cap) a new connection is cut without an answer.
_MIN_REFUSING = 16

#: The end of a request head, as h11 finds it (a line feed, an optional CR, a line feed).
_HEAD_END = re.compile(b"\n\r?\n")


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


def raw_envelope(
    settings: Settings,
    status: int,
    code: Code,
    message: str,
    extra_headers: tuple[tuple[bytes, bytes], ...] = (),
) -> bytes:
    """A whole HTTP/1.1 envelope answer (status line, headers, body) as bytes."""
    status, headers, body = envelope_http_bytes(settings, status, code, message, extra_headers)
    head = b"HTTP/1.1 %d %s\r\n" % (status, http.HTTPStatus(status).phrase.encode())
    head += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return head + b"\r\n" + body


class BoundedHeadConnection(h11.Connection):
    """h11's server side with the head bound checked on complete heads too, and requests
    framed twice refused. ``refusal`` says what was refused: (HTTP status, message)."""

    def __init__(self, head_limit: int) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=head_limit)
        self.head_limit = head_limit
        self.refusal: tuple[int, str] | None = None

    def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        if self.their_state is h11.IDLE:
            self.refusal = self._oversized_head()
            if self.refusal is not None:
                raise h11.RemoteProtocolError(self.refusal[1], error_status_hint=self.refusal[0])
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refusal = self.refusal or self._refusal_of(exc)
            raise
        if isinstance(event, h11.Request) and _framed_twice(event.headers):
            self.refusal = (
                400,
                "a request may not carry both Content-Length and Transfer-Encoding",
            )
            raise h11.RemoteProtocolError(self.refusal[1], error_status_hint=400)
        return event

    def _oversized_head(self) -> tuple[int, str] | None:
        """The refusal of a buffered head longer than the limit (None when it fits)."""
        buffered, _ = self.trailing_data
        limit = self.head_limit
        if len(buffered) <= limit or _HEAD_END.search(buffered, 0, limit):
            return None  # within the limit, or complete within it (a body may follow)
        if buffered.find(b"\n", 0, limit) == -1:
            return 414, f"the request line is longer than {limit} bytes"
        return 431, f"the request line and headers are larger than {limit} bytes together"

    def _refusal_of(self, exc: h11.RemoteProtocolError) -> tuple[int, str]:
        if exc.error_status_hint == 431:  # h11's own bound (a chunk line or trailers)
            return 431, f"a header or chunk line is longer than {self.head_limit} bytes"
        if exc.error_status_hint == 501:
            return 501, "only Transfer-Encoding: chunked is supported"
        return 400, "malformed HTTP request"


def _framed_twice(headers: Sequence[tuple[bytes, bytes]]) -> bool:
    names = {name for name, _ in headers}
    return b"content-length" in names and b"transfer-encoding" in names


def _readable(transport: asyncio.BaseTransport) -> bool:
    """Whether the client's socket has bytes (or its end) waiting to be read."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock.fileno()], [], [], 0)[0])


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the limits of the module docstring. ``settings`` and
    ``refusing`` (the connections answered 503 that are still closing) are set on the
    subclass :func:`protocol_for` makes for one server."""

    settings: ClassVar[Settings]
    refusing: ClassVar[set[GuardedH11Protocol]]
    conn: BoundedHeadConnection

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access_logger = access_logger()  # v2 lines buffered, the rest as uvicorn's
        self.conn = BoundedHeadConnection(self.settings.max_request_head_bytes)
        self._head_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._closing = False  # answered; reading and dropping until the client closes

    # -------------------------------------------------------------- connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cap = self.settings.max_connections
        if len(self.connections) >= cap:
            self.transport = transport  # type: ignore[assignment]
            if len(self.refusing) >= max(cap // 10, _MIN_REFUSING):
                transport.abort()  # type: ignore[attr-defined]
                return
            self.refusing.add(self)
            self.answer_and_close(
                raw_envelope(
                    self.settings,
                    503,
                    Code.INTERNAL_ERROR,
                    "server busy: too many open connections; retry in a few seconds",
                    ((b"retry-after", b"2"),),
                )
            )
            return
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        if self in self.refusing:
            self.refusing.discard(self)
            return
        if self.flow is not None:  # (None when the connection was cut at once)
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return  # answered already: dropped (see answer_and_close)
        if self.conn.their_state is h11.IDLE and self._head_timer is None:
            self._arm_head_timer()  # the first bytes of a request head
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._cancel_head_timer()  # the request head is complete

    def answer_and_close(self, answer: bytes) -> None:
        """Send ``answer``, then close the connection without resetting it.

        Closing a socket that still holds unread bytes (a request the client sent
        meanwhile, a body) makes the kernel send a TCP reset, and a reset can destroy the
        answer before the client reads it. So: send, close our direction, keep reading
        and dropping until the client closes too, and cut only after ``LINGER_SECONDS``.
        """
        self._closing = True
        self._cancel_head_timer()
        self._unset_keepalive_if_required()
        self.transport.write(answer)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.transport.resume_reading()
        self._linger_timer = self.loop.call_later(LINGER_SECONDS, self.transport.abort)

    def shutdown(self) -> None:
        """Server shutdown: a connection already answered and closing is just closed (h11
        may be mid-request there, where its own close would raise)."""
        if self._closing:
            self.transport.close()
            return
        super().shutdown()

    # ---------------------------------------------------------------- timeouts

    def timeout_keep_alive_handler(self) -> None:
        """Close an idle connection, unless a request has started to arrive on it (its
        bytes are read right after this callback; closing now would reset it)."""
        if not self.transport.is_closing() and _readable(self.transport):
            return
        super().timeout_keep_alive_handler()

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
        if not self.conn.trailing_data[0]:  # nothing sent: just close, like keep-alive does
            self.transport.close()
            return
        self.answer_and_close(
            raw_envelope(
                self.settings,
                408,
                Code.INVALID_PARAMS,
                f"the request line and headers did not arrive within "
                f"{self.settings.header_timeout_seconds:g} s",
            )
        )

    # --------------------------------------------------------- refused requests

    def send_400_response(self, msg: str) -> None:
        """Answer a request h11 or :class:`BoundedHeadConnection` refused (envelope, the
        fitting status), then close. Mid-answer, nothing more can be said: just close."""
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            self.transport.close()
            return
        status, message = self.conn.refusal or (400, "malformed HTTP request")
        self.answer_and_close(raw_envelope(self.settings, status, Code.INVALID_PARAMS, message))


def protocol_for(settings: Settings) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` subclass for one server with ``settings``."""
    return type(
        "JditemH11Protocol", (GuardedH11Protocol,), {"settings": settings, "refusing": set()}
    )
