"""The HTTP/1.1 connection guard: uvicorn's httptools protocol with the server's limits.

:class:`GuardedProtocol` (bound to settings by :func:`protocol_for`) adds, per
connection:

* **Request head size** — the request line plus headers (up to and including the empty
  line that ends them) may be at most ``max_request_head_bytes``, however the bytes
  arrive: in one write, byte by byte, in any chunks, or pipelined after another
  request. llhttp (httptools' parser) has no such bound, so the parser is only ever
  given a head that is complete and within the bound: the bytes of a head are buffered
  until its empty line, and a body is given to the parser up to its end only (its
  ``Content-Length``, or the end its chunk framing marks), so the bytes after it are the next
  head, buffered and bounded in turn. Larger answers 414 when the request line alone
  is too long, else 431.
* **Framing** — a request with both ``Content-Length`` and ``Transfer-Encoding`` is
  answered 400 and the connection closed (RFC 9112 §6.1: such a request is a request
  smuggling attempt, whatever the server makes of it; llhttp refuses it), a transfer
  coding other than ``chunked`` 501, any other malformed request 400.
* **Header-read timeout** — a head not complete within ``header_timeout_seconds`` of its
  first byte (or of the connection opening) is answered 408.
* **Keep-alive timeout** — an idle connection is closed after ``keep_alive_seconds``,
  unless a new request has already started to arrive on it.
* **Connection cap** — beyond ``max_connections`` open connections a new one is answered
  503 with ``Retry-After`` at once; when refusals pile up as well (a tenth of the cap,
  at least 16, still closing), further connections are cut without an answer.

Every answer given here uses the envelope and ends the connection without a reset (see
:meth:`GuardedProtocol.answer_and_close`).
"""

from __future__ import annotations

import asyncio
import http
import re
import select
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from jditem.protocol.codes import Code
from jditem.server.api.envelope import (
    JSON_MEDIA_TYPE,
    REQUEST_ID_HEADER,
    envelope_bytes,
    http_status_for,
)
from jditem.server.clock import record_time, utc_now
from jditem.server.http.access_log import access_logger
from jditem.server.http.coalesce import CoalescingTransport
from jditem.server.ids import new_request_id
from jditem.server.settings import Settings

#: How long a closing connection keeps reading (and dropping) what the client still
#: sends before it is cut: long enough for the client to read the answer and close.
LINGER_SECONDS = 2.0

#: Connections being refused (answered 503, still closing) allowed at once, at least;
#: beyond that (and a tenth of the cap) a new connection is cut without an answer.
_MIN_REFUSING = 16

#: The end of a request head (a line feed, an optional CR, a line feed; llhttp itself
#: refuses a bare line feed, so a head cut there is answered 400).
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
        record_time=record_time(utc_now(), settings.timezone),
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


def _oversized(buffered: bytes, limit: int) -> tuple[int, str]:
    """The refusal of a head longer than ``limit`` bytes (its first ``limit`` bytes hold
    no end of head)."""
    if buffered.find(b"\n", 0, limit) == -1:
        return 414, f"the request line is longer than {limit} bytes"
    return 431, f"the request line and headers are larger than {limit} bytes together"


def _refusal_of(exc: httptools.HttpParserError) -> tuple[int, str]:
    """(HTTP status, message) for a request llhttp refused."""
    text = str(exc)
    if "Content-Length" in text and "Transfer-Encoding" in text:
        return 400, "a request may not carry both Content-Length and Transfer-Encoding"
    if "Transfer-Encoding" in text:
        return 501, "only Transfer-Encoding: chunked is supported"
    return 400, "malformed HTTP request"


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


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of the module docstring. ``settings``
    and ``refusing`` (the connections answered 503 that are still closing) are set on
    the subclass :func:`protocol_for` makes for one server."""

    settings: ClassVar[Settings]
    refusing: ClassVar[set[GuardedProtocol]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access_logger = access_logger()  # v2 lines buffered, the rest as uvicorn's
        self._head = b""  # the bytes of a request head not given to the parser yet
        self._in_head = True  # the next bytes belong to a request head
        self._body_left: int | None = 0  # body bytes still to give; None: chunked
        self._chunk_left = 0  # chunked: bytes of the current chunk (and CRLF) still to give
        self._line = b""  # chunked: the part of a chunk line received so far
        self._trailers = False  # chunked: after the last chunk, reading trailer lines
        self._refusal: tuple[int, str] | None = None
        self._refusal_waits = False  # answered once the requests before it are
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
        # one write per loop iteration: an answer's head and body in one segment
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
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
        """Give the parser whole heads within the bound and bodies up to their end (see
        the module docstring)."""
        self._unset_keepalive_if_required()
        if self._refusal_waits:
            return  # after a refused head: dropped (answered, then closed)
        while data and not self._closing and self.parser is not None:
            if self._in_head:
                if not self._head and self._head_timer is None:
                    self._arm_head_timer()  # the first bytes of a request head
                start = max(len(self._head) - 2, 0)  # (a head end may span the two)
                buffered = self._head + data if self._head else data
                limit = self.settings.max_request_head_bytes
                end = _HEAD_END.search(buffered, start, limit)
                if end is None:
                    if len(buffered) > limit:
                        self._refuse(_oversized(buffered, limit))
                    else:
                        self._head = buffered
                    return
                self._head, self._in_head = b"", False
                self._cancel_head_timer()
                piece, data = buffered[: end.end()], buffered[end.end() :]
            elif self._body_left is not None:
                piece, data = data[: self._body_left], data[self._body_left :]
                self._body_left -= len(piece)
            else:
                cut = self._chunked_body_end(data)
                if cut is None:
                    return
                piece, data = data[:cut], data[cut:]
            if not self._feed(piece):
                return

    def _chunked_body_end(self, data: bytes) -> int | None:
        """How many bytes of ``data`` belong to the chunked body being received: all of
        them, or those up to its end (the chunk framing followed, per chunk, not per
        byte). None when a chunk line grew past the head bound (refused)."""
        i, size = 0, len(data)
        while i < size:
            if self._chunk_left:  # a chunk's data and the line end after it
                step = min(self._chunk_left, size - i)
                i += step
                self._chunk_left -= step
                continue
            newline = data.find(b"\n", i)
            if newline == -1:
                self._line += data[i:]
                limit = self.settings.max_request_head_bytes
                if len(self._line) > limit:
                    self._refuse((431, f"a chunk line is longer than {limit} bytes"))
                    return None
                return size
            line, self._line, i = self._line + data[i:newline], b"", newline + 1
            if self._trailers:
                if not line.strip(b"\r"):
                    return i  # the empty line after the last chunk (and trailers)
                continue
            try:
                chunk = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                return size  # llhttp refuses it
            if chunk == 0:
                self._trailers = True
            else:
                self._chunk_left = chunk + 2  # its data and CRLF
        return size

    def _feed(self, piece: bytes) -> bool:
        """Give ``piece`` to the parser; False when it refused the request (answered)."""
        try:
            self.parser.feed_data(piece)
        except httptools.HttpParserUpgrade:  # as uvicorn's protocol does
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return False
        except httptools.HttpParserError as exc:
            self.logger.warning("Invalid HTTP request received.")
            self._refuse(_refusal_of(exc))
            return False
        return True

    def on_headers_complete(self) -> None:
        body_left: int | None = 0
        coding = b""
        for name, value in self.headers:
            if name == b"transfer-encoding":
                body_left, coding = None, value
            elif name == b"content-length" and coding == b"":
                body_left = int(value)  # validated by llhttp
        if coding and coding.rsplit(b",", 1)[-1].strip().lower() != b"chunked":
            return  # llhttp refuses it next (501): no request is started
        self._body_left = body_left
        self._chunk_left, self._line, self._trailers = 0, b"", False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        super().on_message_complete()

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
        """Server shutdown: a connection already answered and closing is just closed."""
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
        if self.transport.is_closing() or not self._in_head:
            return
        if not self._head:  # nothing sent: just close, like keep-alive does
            if self.cycle is None or self.cycle.response_complete:
                self.transport.close()
            return
        self._refusal = (
            408,
            f"the request line and headers did not arrive within "
            f"{self.settings.header_timeout_seconds:g} s",
        )
        self.send_400_response("")

    # --------------------------------------------------------- refused requests

    def _refuse(self, refusal: tuple[int, str]) -> None:
        """Answer ``refusal`` and close — after the answers to the requests before it
        (pipelined in the same bytes), which are still being served."""
        self._refusal = refusal
        if self.pipeline or (self.cycle is not None and not self.cycle.response_complete):
            self._refusal_waits = True
            self.flow.pause_reading()
            return
        self.send_400_response(refusal[1])

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if (
            self._refusal_waits
            and not self.pipeline
            and self.cycle.response_complete
            and not self.transport.is_closing()
        ):
            self._refusal_waits = False
            self._unset_keepalive_if_required()
            self.send_400_response("")

    def send_400_response(self, msg: str) -> None:
        """Answer a request refused here or by llhttp (envelope, the fitting status),
        then close. Mid-answer, nothing more can be said: just close."""
        cycle = self.cycle
        if cycle is not None and cycle.response_started and not cycle.response_complete:
            self.transport.close()
            return
        status, message = self._refusal or (400, "malformed HTTP request")
        self.answer_and_close(raw_envelope(self.settings, status, Code.INVALID_PARAMS, message))


def protocol_for(settings: Settings) -> type[GuardedProtocol]:
    """A :class:`GuardedProtocol` subclass for one server with ``settings``."""
    return type("JditemProtocol", (GuardedProtocol,), {"settings": settings, "refusing": set()})
