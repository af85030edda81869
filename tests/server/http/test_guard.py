"""The connection guard (jditem.server.http.guard) against raw sockets on loopback.

Each answer given at the connection level must arrive whole and be followed by a clean
end of stream: a TCP reset instead (the client reads ``ECONNRESET``, httpx raises
``ReadError``) can destroy the answer before the client reads it. ``_read_to_eof``
therefore fails on a reset instead of ignoring it.
"""

from __future__ import annotations

import json
import random
import select
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from jditem.client.base import POOL_LIMITS
from jditem.server.settings import Settings
from tests.support.live_server import LiveServer, live_server
from tests.support.waiting import GENEROUS, wait_until

LIMIT = Settings.model_fields["max_request_head_bytes"].default  # 16 KiB
KIB = 1024
FORMS = ("one write", "byte by byte", "random chunks")


@pytest.fixture(scope="module")
def guarded() -> Iterator[LiveServer]:
    """A server with the production limits (SQLite: the store plays no part here)."""
    with live_server() as live:
        yield live


def _connect(live: LiveServer) -> socket.socket:
    host, port = live.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=GENEROUS)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small writes stay small
    return sock


def _pieces(data: bytes, form: str) -> Iterator[bytes]:
    if form == "one write":
        yield data
    elif form == "byte by byte":
        yield from (data[i : i + 1] for i in range(len(data)))
    else:
        rnd, i = random.Random(len(data)), 0
        while i < len(data):
            size = rnd.randint(1, 4 * KIB)
            yield data[i : i + size]
            i += size


def _send(sock: socket.socket, data: bytes, form: str) -> None:
    """Send ``data`` in ``form``; stop once the server has answered (a client would)."""
    for piece in _pieces(data, form):
        if select.select([sock], [], [], 0)[0]:
            return
        sock.sendall(piece)


def _read_to_eof(sock: socket.socket) -> bytes:
    """Everything the server sends until it ends the stream (a reset fails the test)."""
    chunks = []
    for _ in range(100_000):  # bounded; the end of stream or the timeout ends it first
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
    raise AssertionError("the server never ended the stream")


def _responses(raw: bytes) -> list[tuple[int, dict[str, str], dict[str, Any]]]:
    """The (status, headers, envelope) of each response in ``raw``."""
    answers = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        length = int(headers["content-length"])
        answers.append((int(lines[0].split(" ")[1]), headers, json.loads(rest[:length])))
        raw = rest[length:]
    return answers


def _one_response(raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    answers = _responses(raw)
    assert len(answers) == 1, answers
    return answers[0]


def _head(size: int, *, line_too_long: bool = False) -> bytes:
    """A ``GET /api/health`` head of exactly ``size`` bytes, padded in a header; with
    ``line_too_long``, one whose request line alone (CRLF included) is ``size`` bytes."""
    fields = b"Host: x\r\nConnection: close\r\n"
    if line_too_long:
        start, end = b"GET /api/health?pad=", b" HTTP/1.1\r\n"
        return start + b"p" * (size - len(start) - len(end)) + end + fields + b"\r\n"
    start = b"GET /api/health HTTP/1.1\r\n" + fields + b"X-Pad: "
    return start + b"p" * (size - len(start) - 4) + b"\r\n\r\n"


# ------------------------------------------------------------------ request heads


@pytest.mark.parametrize("form", FORMS)
def test_a_head_of_exactly_the_limit_is_served(guarded: LiveServer, form: str) -> None:
    sock = _connect(guarded)
    with sock:
        _send(sock, _head(LIMIT), form)
        status, _, body = _one_response(_read_to_eof(sock))
    assert (status, body["code"]) == (200, 0)


@pytest.mark.parametrize("size", [LIMIT + 1, 17 * KIB, 64 * KIB, 120 * KIB])
@pytest.mark.parametrize("form", FORMS)
def test_a_head_over_the_limit_is_431_however_it_arrives(
    guarded: LiveServer, form: str, size: int
) -> None:
    """Sent in one write, a complete head was parsed whole and served (h11 bounds only
    a head that is still incomplete): the bound must not depend on how bytes arrive."""
    sock = _connect(guarded)
    with sock:
        _send(sock, _head(size), form)
        status, headers, body = _one_response(_read_to_eof(sock))
    assert status == 431
    assert body["code"] == 400
    assert f"larger than {LIMIT} bytes" in body["message"]
    assert headers["connection"] == "close"
    assert set(body) >= {"requestId", "recordTime"}


@pytest.mark.parametrize("size", [LIMIT + 1, 64 * KIB])
@pytest.mark.parametrize("form", FORMS)
def test_a_request_line_over_the_limit_is_414_however_it_arrives(
    guarded: LiveServer, form: str, size: int
) -> None:
    sock = _connect(guarded)
    with sock:
        _send(sock, _head(size, line_too_long=True), form)
        status, _, body = _one_response(_read_to_eof(sock))
    assert (status, body["code"]) == (414, 400)
    assert "request line is longer" in body["message"]


def test_a_body_after_a_head_within_the_limit_is_not_counted(guarded: LiveServer) -> None:
    """The bound is on the head: a request whose body makes the bytes of one write
    larger than the limit is served (here: 405, the method is not allowed)."""
    body = b"x" * (2 * LIMIT)
    head = b"POST /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    sock = _connect(guarded)
    with sock:
        sock.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        status, _, envelope = _one_response(_read_to_eof(sock))
    assert (status, envelope["code"]) == (405, 400)


@pytest.mark.parametrize(
    "body",
    [
        b"Content-Length: 5\r\n\r\nhello",
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhel\nl\r\n0\r\n\r\n",
        # an extension, a chunk whose data looks like line ends, a trailer
        b"Transfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n3\r\n\r\n\n\r\n"
        b"0\r\nX-Trailer: 1\r\n\r\n",
    ],
    ids=["content-length", "chunked", "chunked-extension-trailer"],
)
@pytest.mark.parametrize("form", FORMS)
def test_a_head_pipelined_after_a_body_is_bounded_too(
    guarded: LiveServer, form: str, body: bytes
) -> None:
    """The bound holds for a head that follows a request's body in the same bytes: the
    parser is given a body up to its end only, so what follows is bounded as a head."""
    first = b"POST /api/health HTTP/1.1\r\nHost: x\r\n" + body
    served = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
    oversized = _head(LIMIT + 1)
    sock = _connect(guarded)
    with sock:
        for piece in _pieces(first + served + oversized, form):  # all of it, answers or not
            sock.sendall(piece)
        answers = _responses(_read_to_eof(sock))
    assert [(status, body["code"]) for status, _, body in answers] == [
        (405, 400),
        (200, 0),
        (431, 400),
    ]


def test_a_chunk_line_over_the_limit_is_431(guarded: LiveServer) -> None:
    head = b"POST /api/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    sock = _connect(guarded)
    with sock:
        sock.sendall(head + b"5;" + b"x" * LIMIT)
        answers = _responses(_read_to_eof(sock))  # (405 first: the route reads no body)
    status, _, body = answers[-1]
    assert (status, body["code"]) == (431, 400)
    assert "chunk line is longer" in body["message"]


def test_pipelined_requests_are_answered_in_order(guarded: LiveServer) -> None:
    request = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /api/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    sock = _connect(guarded)
    with sock:
        sock.sendall(request * 3 + last)
        answers = _responses(_read_to_eof(sock))
    assert [status for status, _, _ in answers] == [200, 200, 200, 404]


# ------------------------------------------------------------------------ framing


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    ],
)
def test_content_length_with_transfer_encoding_is_400_and_the_connection_closes(
    guarded: LiveServer, framing: bytes
) -> None:
    """RFC 9112 §6.1: answer, then close — whatever follows (here a smuggled second
    request) is never read as a request."""
    smuggled = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
    request = b"POST /api/health HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n0\r\n\r\n" + smuggled
    sock = _connect(guarded)
    with sock:
        sock.sendall(request)
        raw = _read_to_eof(sock)  # the end of stream after the answer: the close
    status, headers, body = _one_response(raw)
    assert (status, body["code"]) == (400, 400)
    assert "Content-Length and Transfer-Encoding" in body["message"]
    assert headers["connection"] == "close"


def test_a_server_stopping_while_a_refused_connection_closes_stops_cleanly() -> None:
    """A connection answered 400 and still closing (the client has not closed yet) is
    in no state for h11 to close it normally: the shutdown must not trip over it."""
    with live_server() as live:
        sock = _connect(live)
        with sock:
            sock.sendall(
                b"POST /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            )
            assert select.select([sock], [], [], GENEROUS)[0]  # answered, not closed by us
            live.stop()
            assert b"400 Bad Request" in _read_to_eof(sock)


def test_a_transfer_coding_other_than_chunked_is_501(guarded: LiveServer) -> None:
    sock = _connect(guarded)
    with sock:
        sock.sendall(b"POST /api/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")
        status, _, body = _one_response(_read_to_eof(sock))
    assert (status, body["code"]) == (501, 400)
    assert "chunked" in body["message"]


# --------------------------------------------------------------------- keep-alive


def _open_idle_connection(live: LiveServer) -> tuple[socket.socket, Any]:
    """A kept-alive connection after one answered request, and the server's protocol
    object for it."""
    sock = _connect(live)
    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
    raw = b""
    while not raw.endswith(b"}"):  # the envelope is the whole body
        raw += sock.recv(65536)
    port = sock.getsockname()[1]
    connections = live.uvicorn.server_state.connections
    protocol = wait_until(
        lambda: next((p for p in connections if p.client[1] == port), None),
        what="the server to hold the connection",
    )
    return sock, protocol


def test_a_request_arriving_as_the_keep_alive_timer_fires_is_answered(
    guarded: LiveServer,
) -> None:
    """The race behind a dropped call: the keep-alive timer fires while a new request's
    bytes wait unread in the socket. Closing then resets the connection (the client
    sees ECONNRESET for a request it sent on an open connection).

    The timer's callback is run on the server's loop at exactly that moment — the
    request's bytes arrived, not yet read — which the clock alone reaches only rarely."""
    sock, protocol = _open_idle_connection(guarded)
    on_loop, sent, fired = threading.Event(), threading.Event(), threading.Event()

    def fire_with_the_request_unread() -> None:  # blocks the server loop on purpose
        on_loop.set()
        if sent.wait(GENEROUS):
            select.select([protocol.transport.get_extra_info("socket")], [], [], GENEROUS)
            protocol.timeout_keep_alive_handler()
        fired.set()

    guarded.uvicorn.loop.call_soon_threadsafe(fire_with_the_request_unread)
    assert on_loop.wait(GENEROUS)
    with sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        sent.set()
        assert fired.wait(GENEROUS)
        status, _, body = _one_response(_read_to_eof(sock))
    assert (status, body["code"]) == (200, 0)


def test_the_server_keeps_idle_connections_longer_than_the_jditem_client() -> None:
    """The other half of that race: a client that reuses a connection the server is
    closing at the same moment. The jditem client (httpx's pool, and the aiohttp
    transport with the same limits) drops idle connections after 5 s; the server keeps
    them longer, so it is never the one closing a connection the client reuses."""
    client_expiry = POOL_LIMITS.keepalive_expiry
    assert client_expiry is not None
    assert Settings().keep_alive_seconds >= 3 * client_expiry


# ----------------------------------------------------------------- connection cap


def test_requests_beyond_the_connection_cap_are_answered_503_never_reset() -> None:
    """At the cap, a new connection's request is answered 503 with Retry-After and the
    stream ends cleanly; the client's request bytes (sent at once, like any HTTP client
    does) are read and dropped instead of being left unread (which resets)."""
    with live_server(max_connections=4, header_timeout_seconds=60) as live:
        held = [_open_idle_connection(live)[0] for _ in range(4)]
        try:
            for _ in range(20):
                sock = _connect(live)
                with sock:
                    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
                    status, headers, body = _one_response(_read_to_eof(sock))
                assert (status, body["code"]) == (503, 500)
                assert headers["retry-after"] == "2"
                assert "too many open connections" in body["message"]
        finally:
            for sock in held:
                sock.close()

        def served() -> bool:
            try:
                return httpx.get(live.base_url + "/api/health", timeout=GENEROUS).is_success
            except httpx.TransportError:
                return False

        wait_until(served, what="the server to serve again once connections closed")
