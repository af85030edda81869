"""Apprise channels (issue 20 item 6): an ``apprise://`` endpoint is delivered through
Apprise by the same outbox, dispatcher and attempt log as a signed webhook — on a real
server, both store profiles, Apprise's ``json://`` target pointed at a receiver on
loopback (127.0.0.0/8 allowed explicitly); what the guard refuses; the clear error when
the extra is missing."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
from typing import Any

import pytest
from tests.support.live_server import live_server
from tests.support.user_api import api
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver

from jditem.server.monitor import apprise_channel
from jditem.server.monitor.ssrf import TargetGuard, TargetRefused


@pytest.mark.usefixtures("backend")
def test_an_apprise_endpoint_is_delivered_through_apprise_retried_and_logged() -> None:
    with (
        WebhookReceiver(statuses=[500, 200]) as receiver,  # the first attempt fails
        live_server(webhook_allow_networks=["127.0.0.0/8"], webhook_retry_multiplier=0.001) as live,
    ):
        token = live.make_token("chat")

        url = f"apprise://json://127.0.0.1:{receiver.port}/chat"
        endpoint = api(live, token, "POST", "/api/webhooks", {"url": url})
        api(live, token, "POST", f"/api/webhooks/{endpoint['id']}/test")
        wait_until(lambda: len(receiver.received) >= 2, "the test event is retried")
        got = receiver.received[1]
        assert got.body == receiver.received[0].body
        assert got.path == "/chat"
        assert "webhook-signature" not in got.headers  # Apprise's own message, unsigned
        message = json.loads(got.body)
        assert message["title"] == "jditem: webhook.test"
        assert "a test event from jditem" in message["message"]
        assert endpoint["url"] == f"apprise://json://127.0.0.1:{receiver.port}/chat"

        def logged() -> list[Any]:
            path = f"/api/webhooks/{endpoint['id']}/deliveries"
            found: list[Any] = api(live, token, "GET", path)["deliveries"]
            return [d for d in found if d["status"] == "delivered"]

        [delivery] = wait_until(logged, "the delivery is logged as delivered")
        assert [(a["status"], a["error"]) for a in delivery["log"]] == [
            (None, "status"),
            (200, None),
        ]
        detail = delivery["log"][0]["detail"]
        assert detail.startswith("Apprise could not deliver to the json:// service: ")
        assert "error=500" in detail  # Apprise's own reason, kept from its warning


def test_the_guard_vets_the_host_an_apprise_url_names() -> None:
    closed = TargetGuard.create((), own_addresses=[])
    with pytest.raises(TargetRefused) as refused:  # loopback, not allowed
        asyncio.run(apprise_channel.vet("apprise://json://127.0.0.1:9/x", closed))
    assert "127.0.0.1" in refused.value.message
    with pytest.raises(TargetRefused) as refused:  # a scheme that could name any host
        asyncio.run(apprise_channel.vet("apprise://ntfy://127.0.0.1/topic", closed))
    assert "schemes" in refused.value.message
    with pytest.raises(TargetRefused) as refused:  # not an Apprise URL at all
        asyncio.run(apprise_channel.vet("apprise://tgram://", closed))
    assert "Apprise cannot read" in refused.value.message
    with pytest.raises(TargetRefused):  # mail through an SMTP server on loopback
        asyncio.run(
            apprise_channel.vet("apprise://mailtos://u:p@example.com?smtp=127.0.0.1", closed)
        )
    loopback = TargetGuard.create(["127.0.0.0/8"], own_addresses=[])
    asyncio.run(apprise_channel.vet("apprise://json://127.0.0.1:9/x", loopback))
    # a chat service whose API host Apprise fixes: nothing to resolve, allowed
    asyncio.run(apprise_channel.vet("apprise://tgram://123456789:ABCdefGHI/12345", closed))


def test_tokens_in_an_apprise_url_are_not_shown() -> None:
    url = "apprise://tgram://123456789:ABCdefGHIjkl/12345"
    assert "ABCdefGHIjkl" not in apprise_channel.shown(url)
    assert apprise_channel.shown(url).startswith("apprise://tgram://")
    assert apprise_channel.shown("apprise://tgram://") == "apprise://tgram://…"


def test_without_the_extra_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "apprise", None)  # as if not installed
    guard = TargetGuard.create(["127.0.0.0/8"], own_addresses=[])
    with pytest.raises(TargetRefused) as refused:
        asyncio.run(apprise_channel.vet("apprise://json://127.0.0.1:9/x", guard))
    assert refused.value.message == apprise_channel.MISSING
    assert "pip install 'jditem[apprise]'" in refused.value.message


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()}")


def test_apprise_logs_no_channel_secret_and_the_reason_is_scrubbed() -> None:
    secret = "s3cr3t-path-token"
    guard = TargetGuard.create(["127.0.0.0/8"], own_addresses=[])
    payload = {"type": "webhook.test", "data": {"message": "hello"}}
    root = logging.getLogger()
    seen, level = _Lines(), root.level
    root.addHandler(seen)  # where the server's handlers are: what reaches them
    root.setLevel(logging.DEBUG)
    try:
        with WebhookReceiver(status=500, body=secret.encode()) as receiver:
            url = f"apprise://json://user:{secret}@127.0.0.1:{receiver.port}/{secret}"
            result = asyncio.run(apprise_channel.send(url, payload, guard=guard, time_limit=10))
            assert len(receiver.received) == 1
    finally:
        root.removeHandler(seen)
        root.setLevel(level)
    assert not result.ok
    assert "error=500" in result.detail  # Apprise's own reason…
    assert secret not in result.detail  # …without the channel's secrets
    assert not [line for line in seen.lines if secret in line]  # Apprise's DEBUG had them
    assert not [line for line in seen.lines if line.startswith(("apprise", "urllib3"))]


def test_a_reason_loses_every_part_of_the_channel_url() -> None:
    url = "apprise://tgram://123456789:ABCdefGHIjkl/12345"
    line = "POST https://api.telegram.org/bot123456789:ABCdefGHIjkl/sendMessage to 12345 failed"
    blanked = "POST https://api.telegram.org/bot…:…/sendMessage to … failed"
    assert apprise_channel.scrubbed(line, url) == blanked
    assert len(apprise_channel.scrubbed("x" * 1000, url)) == apprise_channel.REASON_CHARS


def _public_for_any_name(address: str) -> Any:
    async def resolver(host: str, port: int) -> list[str]:
        return [address]

    return resolver


def test_a_name_that_resolves_elsewhere_when_apprise_connects_reaches_nothing() -> None:
    """DNS rebinding: the guard's own lookup says public (a network the operator allows),
    the lookup Apprise makes when it connects says loopback — the connection is refused
    there, nothing reaches the receiver, and the attempt log says why."""
    public = "93.184.216.34"
    guard = TargetGuard.create(
        ["93.184.216.0/24"], own_addresses=[], resolver=_public_for_any_name(public)
    )
    payload = {"type": "webhook.test", "data": {"message": "hello"}}
    with WebhookReceiver(status=200) as receiver:
        url = f"apprise://json://localhost:{receiver.port}/hook"
        asyncio.run(apprise_channel.vet(url, guard))  # at the check: public, allowed
        result = asyncio.run(apprise_channel.send(url, payload, guard=guard, time_limit=10))
        assert receiver.received == []
    assert not result.ok
    assert result.error is apprise_channel.AttemptError.REFUSED
    assert "localhost resolved to an address the guard refuses" in result.detail
    assert "a loopback address" in result.detail
    # other threads (and this one, now) resolve as before
    assert socket.getaddrinfo("localhost", receiver.port, proto=socket.IPPROTO_TCP)


def test_a_plain_scheme_may_connect_only_inside_the_allowed_networks() -> None:
    """json:// is plain HTTP: at the connection, as at the check, its addresses must lie in
    an allowed network — a public address is refused too."""
    guard = TargetGuard.create(["127.0.0.0/8"], own_addresses=[])
    with apprise_channel.resolving_through(guard, plain=True) as resolution:
        assert socket.getaddrinfo("127.0.0.1", 80)  # an allowed network
        with pytest.raises(socket.gaierror):
            socket.getaddrinfo("93.184.216.34", 80)  # public, but the scheme is plain
    assert resolution.refused is not None
    assert "93.184.216.34 is outside the allowed networks and the scheme is plain" in (
        resolution.refused
    )
    assert socket.getaddrinfo("93.184.216.34", 80)  # outside the block: as before
