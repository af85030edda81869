"""Webhook endpoints in the console, on a real server (both store profiles) with a real
receiver on 127.0.0.1 (allowed explicitly): add with the secret shown once (never again,
never logged), a refused URL saying why, rotate, a disabled endpoint's banner on the
page and the overview, enable, remove, the deliveries page with its attempt log, paging
and replay — CSRF on every form, owners change, plain members look, another account's
endpoint is 404."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from jditem.webhooks import verify
from tests.server.console.conftest import ConsoleClient
from tests.server.console.member_client import new_member
from tests.server.console.pages.test_watch import api
from tests.support.backends import Backend
from tests.support.live_server import LiveServer, live_server
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver

# once per store profile (tests/conftest.py: backend)
pytestmark = pytest.mark.usefixtures("backend")

SECRET = re.compile(r'<code id="new-secret-value">(whsec_[^<]+)</code>')


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(status=204) as found:
        yield found


@pytest.fixture(scope="module")
def server(backend: Backend) -> Iterator[LiveServer]:
    """The console fixtures' server: loopback receivers allowed, no watch scheduler."""
    with (
        backend.database(),
        live_server(webhook_allow_networks=["127.0.0.0/8"], watch_scheduler=False) as live,
    ):
        yield live


def endpoint_ids(live: LiveServer, account: str) -> list[int]:
    return [
        int(row[0])
        for row in live.rows(
            "SELECT e.id FROM webhook_endpoints e JOIN accounts a ON a.id = e.account_id "
            "WHERE a.name = :n ORDER BY e.id",
            n=account,
        )
    ]


def test_an_owner_adds_rotates_enables_and_removes_an_endpoint(
    server: LiveServer,
    receiver: WebhookReceiver,
    console: ConsoleClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    account = f"acct-{secrets.token_hex(3)}"
    token = server.make_token(account, name="hooks")
    api(
        server,
        token,
        "POST",
        "/api/watch/lists",
        {"name": "dailies", "intervalSeconds": 3600, "dailyBudget": "1", "items": ["100"]},
    )
    hooks = f"/hooks-{secrets.token_hex(3)}"  # the receiver serves both profiles' tests
    owner, _email = new_member(server, account, role="owner")
    member, _member_email = new_member(server, account)
    try:
        page = owner.get("/console/webhooks")
        assert page.status_code == 200, page.text
        assert 'href="/console/webhooks"' in page.text  # the navigation link
        assert "No webhook endpoints yet" in page.text

        form = {"url": receiver.base_url + hooks, "lists": "dailies", "kinds": "price_drop"}
        assert owner.post("/console/webhooks", form, csrf=False).status_code == 403
        assert endpoint_ids(server, account) == []

        refused = owner.post("/console/webhooks", {**form, "url": "http://10.1.2.3/hooks"})
        assert refused.status_code == 400
        assert "URL refused:" in refused.text
        assert "10.1.2.3" in refused.text
        assert 'value="http://10.1.2.3/hooks"' in refused.text  # the draft is kept
        no_list = owner.post("/console/webhooks", {**form, "lists": "nope"})
        assert no_list.status_code == 400
        assert "nope" in no_list.text
        assert endpoint_ids(server, account) == []

        with caplog.at_level(logging.DEBUG):
            added = owner.post("/console/webhooks", form)
            assert added.status_code == 200, added.text
            assert added.headers["cache-control"] == "no-store"
            found = SECRET.search(added.text)
            assert found, added.text
            secret = found.group(1)
            [endpoint] = endpoint_ids(server, account)
            again = owner.get("/console/webhooks")
        assert secret not in again.text  # shown once, never again
        assert secret not in caplog.text  # never logged
        assert secret not in str(server.rows("SELECT * FROM webhook_endpoints"))  # sealed
        row = re.search(rf'<tr id="webhook-{endpoint}">.*?</tr>', again.text, re.S)
        assert row, again.text
        for shown in (receiver.base_url + hooks, "dailies", "price_drop", "enabled"):
            assert shown in row.group(0), shown

        rotated = owner.post(f"/console/webhooks/{endpoint}/rotate")
        assert rotated.status_code == 200
        fresh = SECRET.search(rotated.text)
        assert fresh
        assert fresh.group(1) != secret
        assert "previous secret keeps signing" in rotated.text
        # a test event is signed with both during the overlap
        api(server, token, "POST", f"/api/webhooks/{endpoint}/test")
        got = wait_until(
            lambda: [r for r in receiver.received if r.path == hooks], "the test event arrives"
        )[0]
        verify(got.body, got.headers, secret)
        verify(got.body, got.headers, fresh.group(1))

        # plain members look but do not change
        looked = member.get("/console/webhooks")
        assert receiver.base_url + hooks in looked.text
        assert "Rotate secret" not in looked.text
        assert 'id="webhook-add"' not in looked.text
        for path in ("rotate", "remove", "enable"):
            denied = member.post(f"/console/webhooks/{endpoint}/{path}")
            assert denied.status_code == 403
            assert "Ask an owner" in denied.text
        assert member.post("/console/webhooks", form).status_code == 403

        # disabled (as the dispatcher does on a 410): a banner here and on the overview
        server.execute(
            "UPDATE webhook_endpoints SET enabled = :f, disabled_reason = :r, disabled_at = :t "
            "WHERE id = :i",
            f=False,
            r="the receiver answered 410 Gone",
            t=datetime(2026, 12, 1, 2, 0, tzinfo=UTC).replace(tzinfo=None),
            i=endpoint,
        )
        for path in ("/console", "/console/webhooks", f"/console/webhooks/{endpoint}"):
            page = member.get(path)
            banner = re.search(
                r'<div class="error" role="alert" id="webhooks-disabled">.*?</div>',
                page.text,
                re.S,
            )
            assert banner, (path, page.text)
            assert "the receiver answered 410 Gone" in banner.group(0)
            assert "1 webhook endpoint disabled" in banner.group(0)
        assert "DISABLED" in owner.get("/console/webhooks").text

        enabled = owner.post(f"/console/webhooks/{endpoint}/enable")
        assert enabled.status_code == 303
        assert "enabled" in owner.get(enabled.headers["location"]).text
        assert server.scalar("SELECT enabled FROM webhook_endpoints WHERE id = :i", i=endpoint)
        assert 'id="webhooks-disabled"' not in owner.get("/console").text

        assert owner.post(f"/console/webhooks/{endpoint}/remove", csrf=False).status_code == 403
        removed = owner.post(f"/console/webhooks/{endpoint}/remove")
        assert removed.status_code == 303
        assert endpoint_ids(server, account) == []
        assert owner.get(f"/console/webhooks/{endpoint}").status_code == 404
    finally:
        owner.close()
        member.close()


def test_the_operator_adds_for_an_account_and_sees_every_account(
    server: LiveServer, receiver: WebhookReceiver, console: ConsoleClient
) -> None:
    account = f"acct-{secrets.token_hex(3)}"
    server.make_token(account, name="t")
    url = receiver.base_url + "/operator"
    unknown = console.post("/console/webhooks", {"url": url, "account": "no-such-account"})
    assert unknown.status_code == 400
    assert "no account" in unknown.text
    added = console.post("/console/webhooks", {"url": url, "account": account})
    assert added.status_code == 200, added.text
    [endpoint] = endpoint_ids(server, account)
    row = re.search(rf'<tr id="webhook-{endpoint}">.*?</tr>', added.text, re.S)
    assert row
    assert account in row.group(0)


def test_deliveries_page_shows_attempts_pages_and_replays(
    server: LiveServer, receiver: WebhookReceiver, console: ConsoleClient
) -> None:
    account = f"acct-{secrets.token_hex(3)}"
    token = server.make_token(account, name="t")
    path = f"/replay-{secrets.token_hex(3)}"
    endpoint = api(server, token, "POST", "/api/webhooks", {"url": receiver.base_url + path})["id"]
    sent = api(server, token, "POST", f"/api/webhooks/{endpoint}/test")["webhookId"]
    wait_until(
        lambda: (
            server.scalar(
                "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = :i AND status = :s",
                i=endpoint,
                s="delivered",
            )
            == 1
        ),
        "the test event is delivered",
    )
    owner, _email = new_member(server, account, role="owner")
    try:
        page = owner.get(f"/console/webhooks/{endpoint}")
        assert page.status_code == 200, page.text
        delivery = int(
            server.scalar("SELECT id FROM webhook_deliveries WHERE endpoint_id = :i", i=endpoint)
        )
        row = re.search(rf'<tr id="delivery-{delivery}">.*?<p class="pager">', page.text, re.S)
        assert row, page.text
        for shown in (sent, "webhook.test", "delivered", "<td>204</td>", " ms</td>", "Replay"):
            assert shown in row.group(0), shown

        assert (
            owner.post(f"/console/webhooks/deliveries/{delivery}/replay", csrf=False).status_code
            == 403
        )
        replayed = owner.post(f"/console/webhooks/deliveries/{delivery}/replay")
        assert replayed.status_code == 303
        assert replayed.headers["location"].startswith(f"/console/webhooks/{endpoint}?")
        assert "queued again" in owner.get(replayed.headers["location"]).text
        arrived = wait_until(
            lambda: [r for r in receiver.received if r.path == path][1:], "the replay arrives"
        )
        assert arrived[0].headers["webhook-id"] == sent

        # newest first, a page at a time
        for n in range(30):
            server.execute(
                "INSERT INTO webhook_deliveries (endpoint_id, account_id, event_id, event_type,"
                " body, status, attempts, next_attempt_at, created_at) SELECT :e, account_id,"
                " :id, 'price_drop', '{}', 'failed', 0, created_at, created_at"
                " FROM webhook_endpoints WHERE id = :e",
                e=endpoint,
                id=f"evt_page_{n:02d}",
            )
        first = owner.get(f"/console/webhooks/{endpoint}").text
        assert "evt_page_29" in first
        assert "evt_page_05" in first
        assert "evt_page_04" not in first
        older = re.search(
            r'href="(/console/webhooks/\d+\?before=\d+)" id="older-deliveries"', first
        )
        assert older, first
        second = owner.get(older.group(1)).text
        assert "evt_page_04" in second
        assert "evt_page_05" not in second
        assert sent in second
        assert 'id="older-deliveries"' not in second
    finally:
        owner.close()


def test_another_account_s_endpoint_and_delivery_are_404(
    server: LiveServer, receiver: WebhookReceiver
) -> None:
    a, b = (f"acct-{secrets.token_hex(3)}" for _ in range(2))
    token_a = server.make_token(a, name="t")
    server.make_token(b, name="t")
    url = receiver.base_url + "/secret-of-a-" + secrets.token_hex(3)
    endpoint = api(server, token_a, "POST", "/api/webhooks", {"url": url})["id"]
    api(server, token_a, "POST", f"/api/webhooks/{endpoint}/test")
    delivery = int(
        wait_until(
            lambda: server.scalar(
                "SELECT id FROM webhook_deliveries WHERE endpoint_id = :i", i=endpoint
            ),
            "the delivery is queued",
        )
    )
    owner_b, _email = new_member(server, b, role="owner")
    try:
        assert url not in owner_b.get("/console/webhooks").text
        for response in (
            owner_b.get(f"/console/webhooks/{endpoint}"),
            owner_b.post(f"/console/webhooks/{endpoint}/rotate"),
            owner_b.post(f"/console/webhooks/{endpoint}/enable"),
            owner_b.post(f"/console/webhooks/{endpoint}/remove"),
            owner_b.post(f"/console/webhooks/deliveries/{delivery}/replay"),
        ):
            assert response.status_code == 404
            assert url not in response.text
        assert endpoint_ids(server, a) == [endpoint]
        assert (
            server.scalar(
                "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = :i", i=endpoint
            )
            == 1
        )
    finally:
        owner_b.close()


def test_missing_endpoints_are_404(console: ConsoleClient) -> None:
    for path in (
        "/console/webhooks/999999",
        "/console/webhooks/x",
        "/console/webhooks/99999999999",
    ):
        assert console.get(path).status_code == 404, path
    assert console.post("/console/webhooks/999999/rotate").status_code == 404
    assert console.post("/console/webhooks/deliveries/999999/replay").status_code == 404
