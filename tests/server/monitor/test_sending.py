"""One delivery attempt against real receivers on loopback (allowed explicitly), and what
the guard and the bounds do when a receiver misbehaves. No test waits on the clock: a
hanging receiver is bounded by the attempt's own time limit, far below the hang."""

from __future__ import annotations

import json
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pytest
import trustme
from standardwebhooks import Webhook
from tests.support.fault_server import FaultServer, Reply
from tests.support.processes import free_port
from tests.support.webhook_receiver import WebhookReceiver

from jditem.server.monitor.sending import USER_AGENT, AttemptError, DeliveryResult, deliver
from jditem.server.monitor.signing import new_secret, signature_headers
from jditem.server.monitor.ssrf import TargetGuard
from jditem.webhooks import verify

LOOPBACK = ["127.0.0.0/8"]
BODY = json.dumps({"type": "price_drop", "item": "100012043978"}).encode()
NAME = "hooks.example.test"


def signed() -> tuple[dict[str, str], str]:
    key = new_secret()
    headers = signature_headers("msg_01J", BODY, [key], timestamp=datetime.now(UTC))
    return headers, key.get_secret_value()


class Resolver:
    """Answers from a list per call (the last one repeats) and counts the calls."""

    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls += 1
        if host != NAME:
            raise OSError(-2, "Name or service not known")
        return self.answers[min(self.calls, len(self.answers)) - 1]


async def send(
    url: str,
    guard: TargetGuard,
    headers: dict[str, str] | None = None,
    *,
    time_limit: float = 20.0,
    max_response_bytes: int = 4096,
    ssl_context: ssl.SSLContext | None = None,
) -> DeliveryResult:
    """``deliver`` with generous bounds (a loaded machine must not make a test fail)."""
    return await deliver(
        url,
        headers or signed()[0],
        BODY,
        guard=guard,
        time_limit=time_limit,
        max_response_bytes=max_response_bytes,
        ssl_context=ssl_context,
    )


async def test_a_signed_delivery_to_an_allowed_loopback_receiver() -> None:
    headers, secret = signed()
    with WebhookReceiver(status=204) as receiver:
        result = await send(
            receiver.base_url + "/hooks/jd?k=1", TargetGuard.create(LOOPBACK), headers
        )
    assert result.ok
    assert result.status == 204
    assert result.error is None
    assert result.address == "127.0.0.1"
    assert result.latency > 0
    [got] = receiver.received
    assert got.path == "/hooks/jd?k=1"
    assert got.body == BODY
    assert got.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == USER_AGENT
    assert verify(got.body, got.headers, secret) == json.loads(BODY)
    assert Webhook(secret).verify(got.body, got.headers) == json.loads(BODY)


async def test_without_the_allowance_loopback_is_refused_and_never_contacted() -> None:
    with WebhookReceiver() as receiver:
        for url in (
            receiver.base_url,
            f"http://2130706433:{receiver.port}/",
            f"http://[::ffff:127.0.0.1]:{receiver.port}/",
            f"http://{NAME}:{receiver.port}/",
        ):
            guard = TargetGuard.create(resolver=Resolver(["127.0.0.1"]))
            result = await send(url, guard)
            assert result.error is AttemptError.REFUSED, url
            assert result.status is None
            assert "127.0.0.1 is a loopback address" in result.detail
    assert receiver.received == []


async def test_a_name_is_resolved_once_and_the_vetted_address_is_used() -> None:
    """DNS rebinding: the connection goes to the address that was checked; a second
    lookup would fail the test (the resolver answers nothing usable after the first)."""
    resolver = Resolver(["127.0.0.1"], [])
    with WebhookReceiver() as receiver:
        result = await send(
            f"http://{NAME}:{receiver.port}/in", TargetGuard.create(LOOPBACK, resolver=resolver)
        )
    assert result.ok, result.detail
    assert resolver.calls == 1
    assert receiver.received[0].headers["host"] == f"{NAME}:{receiver.port}"


async def test_a_name_that_changes_to_loopback_after_creation_is_refused_at_delivery() -> None:
    resolver = Resolver(["93.184.216.34"], ["127.0.0.1"])
    guard = TargetGuard.create(resolver=resolver)
    with WebhookReceiver() as receiver:
        url = f"https://{NAME}:{receiver.port}/"
        await guard.vet(url)  # accepted when the endpoint is created
        result = await send(url, guard)  # the name now points at loopback
    assert result.error is AttemptError.REFUSED
    assert f"{NAME} resolves to 127.0.0.1" in result.detail
    assert receiver.received == []


async def test_the_next_vetted_address_is_tried_when_one_refuses_connections() -> None:
    resolver = Resolver(["127.0.0.2", "127.0.0.1"])  # nothing listens on 127.0.0.2
    with WebhookReceiver() as receiver:
        result = await send(
            f"http://{NAME}:{receiver.port}/", TargetGuard.create(LOOPBACK, resolver=resolver)
        )
    assert result.ok
    assert result.address == "127.0.0.1"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_contexts(ca: trustme.CA, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def test_tls_keeps_the_name_for_sni_and_the_certificate(ca: trustme.CA) -> None:
    server_ctx, client_ctx = tls_contexts(ca, NAME)
    resolver = Resolver(["127.0.0.1"])
    with WebhookReceiver(status=200, ssl_context=server_ctx) as receiver:
        result = await send(
            f"https://{NAME}:{receiver.port}/tls",
            TargetGuard.create(LOOPBACK, resolver=resolver),
            ssl_context=client_ctx,
        )
    assert result.ok, result.detail
    assert receiver.server_names == [NAME]
    assert receiver.received[0].headers["host"] == f"{NAME}:{receiver.port}"


async def test_a_certificate_for_another_name_fails_as_tls(ca: trustme.CA) -> None:
    server_ctx, client_ctx = tls_contexts(ca, "other.example.test")
    with WebhookReceiver(ssl_context=server_ctx) as receiver:
        result = await send(
            f"https://{NAME}:{receiver.port}/",
            TargetGuard.create(LOOPBACK, resolver=Resolver(["127.0.0.1"])),
            ssl_context=client_ctx,
        )
    assert result.error is AttemptError.TLS, result.detail
    assert receiver.received == []


async def test_a_redirect_is_not_followed() -> None:
    with (
        WebhookReceiver() as elsewhere,
        FaultServer(
            [Reply(302, headers={"Location": elsewhere.base_url + "/stolen"})]
        ) as redirecting,
    ):
        result = await send(redirecting.base_url, TargetGuard.create(LOOPBACK))
    assert result.error is AttemptError.REDIRECT
    assert result.status == 302
    assert f"to {elsewhere.base_url}" in result.detail
    assert "not followed" in result.detail
    assert elsewhere.received == []


async def test_a_huge_answer_is_read_up_to_the_cap() -> None:
    with FaultServer([Reply(200, b"x" * 5_000_000)]) as huge:
        result = await send(huge.base_url, TargetGuard.create(LOOPBACK), max_response_bytes=1000)
    assert result.ok
    assert result.truncated
    assert result.excerpt == "x" * 1000


async def test_a_receiver_that_never_answers_is_bounded_by_the_time_limit() -> None:
    with FaultServer([Reply(200, delay=300)]) as hanging:
        started = time.monotonic()
        result = await send(hanging.base_url, TargetGuard.create(LOOPBACK), time_limit=0.5)
        elapsed = time.monotonic() - started
    assert result.error is AttemptError.TIMEOUT
    assert result.status is None
    assert "did not answer within 0.5 s" in result.detail
    assert elapsed < 150  # bounded by the limit, not by the 300 s hang


@pytest.fixture
def trickling() -> Iterator[str]:
    """Answers one byte of its response head at a time, forever: each read is quick, so
    only a bound on the whole attempt ends it."""
    stop = threading.Event()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(65536)
            head = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000
            for byte in head:
                if stop.wait(0.02):
                    return
                try:
                    self.request.sendall(bytes([byte]))
                except OSError:
                    return

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    stop.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


async def test_a_trickling_receiver_is_bounded_by_the_time_limit(trickling: str) -> None:
    started = time.monotonic()
    result = await send(trickling, TargetGuard.create(LOOPBACK), time_limit=1.0)
    assert result.error is AttemptError.TIMEOUT
    assert time.monotonic() - started < 60  # the head alone would take 2,000 s


async def test_the_excerpt_never_holds_a_secret_or_a_signature() -> None:
    headers, secret = signed()
    signature = headers["webhook-signature"].partition(",")[2]
    echo = f"bad secret {secret}, got signature {signature} for msg_01J".encode()
    with FaultServer([Reply(401, echo)]) as rude:
        result = await send(rude.base_url, TargetGuard.create(LOOPBACK), headers)
    assert result.error is AttemptError.STATUS
    assert result.status == 401
    assert secret not in result.excerpt
    assert signature not in result.excerpt
    assert "whsec_[redacted]" in result.excerpt
    assert "msg_01J" in result.excerpt


async def test_gone_is_reported_with_its_status() -> None:
    with FaultServer([Reply(410, b"endpoint removed")]) as gone:
        result = await send(gone.base_url, TargetGuard.create(LOOPBACK))
    assert result.error is AttemptError.STATUS
    assert result.status == 410
    assert result.excerpt == "endpoint removed"


async def test_unreachable_and_unresolvable_targets_are_failed_attempts() -> None:
    port = free_port()
    refused = await send(f"http://127.0.0.1:{port}/", TargetGuard.create(LOOPBACK))
    assert refused.error is AttemptError.CONNECT
    assert refused.address == "127.0.0.1"
    unknown = await send("https://nowhere.example.test/", TargetGuard.create(resolver=Resolver()))
    assert unknown.error is AttemptError.DNS
    assert "does not resolve" in unknown.detail
