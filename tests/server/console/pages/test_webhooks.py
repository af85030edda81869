"""Webhook endpoints in the console, on a real server (both store profiles) with a real
receiver on 127.0.0.1 (allowed explicitly): add with the secret shown once (never again,
never logged), a refused URL saying why, rotate, a disabled endpoint's banner on the
page and the overview, enable, remove, the deliveries page with its attempt log, paging,
replay and "send test event" — CSRF on every form; the token rule: the operator, owners
and the endpoint's creator change it, other members look; another account's endpoint
is 404."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from jditem.server.accounts import members
from jditem.server.context import ServerContext
from jditem.webhooks import verify
from tests.server.console.conftest import ConsoleClient
from tests.server.console.member_client import MemberClient, new_member
from tests.support.backends import Backend
from tests.support.live_server import LiveServer, live_server
from tests.support.user_api import api
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

        # a plain member sees the owner's endpoint read-only and cannot change it
        looked = member.get("/console/webhooks")
        row = re.search(rf'<tr id="webhook-{endpoint}">.*?</tr>', looked.text, re.S)
        assert row, looked.text
        assert receiver.base_url + hooks in row.group(0)
        assert "created by another member" in row.group(0)
        assert "Rotate secret" not in row.group(0)
        detail = member.get(f"/console/webhooks/{endpoint}").text
        assert 'id="read-only"' in detail
        assert 'id="webhook-test"' not in detail
        for path in ("rotate", "remove", "enable", "test"):
            denied = member.post(f"/console/webhooks/{endpoint}/{path}")
            assert denied.status_code == 403
            assert "Ask an owner" in denied.text

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


def _secret_of(page: str) -> str:
    found = SECRET.search(page)
    assert found, page
    return found.group(1)


def test_send_test_event_from_the_endpoint_page(
    server: LiveServer, receiver: WebhookReceiver
) -> None:
    """The page's button queues the same ``webhook.test`` event as the API and the CLI;
    it is delivered, signed with the endpoint's secret, and listed on the page."""
    account = f"acct-{secrets.token_hex(3)}"
    server.make_token(account, name="t")
    path = f"/button-{secrets.token_hex(3)}"
    owner, _email = new_member(server, account, role="owner")
    try:
        secret = _secret_of(owner.post("/console/webhooks", {"url": receiver.base_url + path}).text)
        [endpoint] = endpoint_ids(server, account)
        page = owner.get(f"/console/webhooks/{endpoint}").text
        assert f'action="/console/webhooks/{endpoint}/test" id="webhook-test"' in page
        assert "No deliveries yet" in page

        test = f"/console/webhooks/{endpoint}/test"
        assert owner.post(test, csrf=False).status_code == 403
        sent = owner.post(test)
        assert sent.status_code == 303
        assert sent.headers["location"].startswith(f"/console/webhooks/{endpoint}?flash=")
        flash = owner.get(sent.headers["location"]).text
        [webhook_id] = re.findall(r"Test event (evt_\w+) queued", flash)

        got = wait_until(
            lambda: [r for r in receiver.received if r.path == path], "the test event arrives"
        )
        assert len(got) == 1  # the forbidden post without CSRF queued nothing
        assert got[0].headers["webhook-id"] == webhook_id
        event = verify(got[0].body, got[0].headers, secret)
        assert event["type"] == "webhook.test"
        assert event["data"]["endpointId"] == endpoint

        def delivered_row() -> str | None:
            shown = owner.get(f"/console/webhooks/{endpoint}").text
            row = re.search(r'<tr id="delivery-\d+">.*?</table>', shown, re.S)
            return row.group(0) if row and "delivered" in row.group(0) else None

        row = wait_until(delivered_row, "the page lists the delivered test event")
        for shown in (webhook_id, "webhook.test", "<td>204</td>"):
            assert shown in row, shown

        # a disabled endpoint has no button, and a post says to enable it first
        server.execute(
            "UPDATE webhook_endpoints SET enabled = :f, disabled_reason = :r WHERE id = :i",
            f=False,
            r="the receiver answered 410 Gone",
            i=endpoint,
        )
        assert 'id="webhook-test"' not in owner.get(f"/console/webhooks/{endpoint}").text
        refused = owner.post(test)
        assert refused.status_code == 400
        assert "enable it first" in refused.text
        count = "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = :i"
        assert server.scalar(count, i=endpoint) == 1
    finally:
        owner.close()


def _console_token(member: MemberClient) -> str:
    """A token the member creates in the console (recorded as its own)."""
    page = member.post("/console/tokens", {"name": "mine", "permissions": "*"}).text
    found = re.search(r'<code id="new-token-value">([^<]+)</code>', page)
    assert found, page
    return found.group(1)


def test_an_endpoint_records_its_creator_and_the_token_rule_applies(
    server: LiveServer, receiver: WebhookReceiver, console: ConsoleClient
) -> None:
    """Added in the console: the member; through the API: the token's creator (the
    operator's token: nobody). A plain member changes its own endpoints only; an owner and
    the operator change every one; a removed member's endpoints stay with the account."""
    account = f"acct-{secrets.token_hex(3)}"
    operator_token = server.make_token(account, name="t")
    owner, _ = new_member(server, account, role="owner")
    alice, alice_email = new_member(server, account)
    bob, bob_email = new_member(server, account)
    member_id = "SELECT id FROM members WHERE email = :e"
    alice_id, bob_id = (int(server.scalar(member_id, e=e)) for e in (alice_email, bob_email))
    url = receiver.base_url + f"/creators-{secrets.token_hex(3)}"
    try:
        added = alice.post("/console/webhooks", {"url": url + "/alice", "account": "other"})
        assert added.status_code == 200, added.text
        bobs = api(server, _console_token(bob), "POST", "/api/webhooks", {"url": url + "/bob"})
        ops = api(server, operator_token, "POST", "/api/webhooks", {"url": url + "/ops"})
        [alices] = [i for i in endpoint_ids(server, account) if i not in (bobs["id"], ops["id"])]
        creator = "SELECT created_by_member_id FROM webhook_endpoints WHERE id = :i"
        assert server.scalar(creator, i=alices) == alice_id
        assert server.scalar(creator, i=bobs["id"]) == bob_id
        assert server.scalar(creator, i=ops["id"]) is None

        listing = alice.get("/console/webhooks").text

        def row(endpoint: int) -> str:
            found = re.search(rf'<tr id="webhook-{endpoint}">.*?</tr>', listing, re.S)
            assert found, listing
            return found.group(0)

        assert f'action="/console/webhooks/{alices}/rotate"' in row(alices)
        assert "created by another member" in row(bobs["id"])
        assert "created by the operator" in row(ops["id"])
        assert "/rotate" not in row(bobs["id"]) + row(ops["id"])

        # Alice cannot change Bob's endpoint (nor the operator's), nor replay its deliveries
        api(server, _console_token(bob), "POST", f"/api/webhooks/{bobs['id']}/test")
        delivery = int(
            server.scalar("SELECT id FROM webhook_deliveries WHERE endpoint_id = :i", i=bobs["id"])
        )
        state = "SELECT secret_sealed, enabled FROM webhook_endpoints WHERE id = :i"
        deliveries = "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = :i"
        before = server.rows(state, i=bobs["id"])
        for path in (
            *(
                f"/console/webhooks/{bobs['id']}/{a}"
                for a in ("rotate", "enable", "test", "remove")
            ),
            f"/console/webhooks/deliveries/{delivery}/replay",
            f"/console/webhooks/{ops['id']}/rotate",
        ):
            refused = alice.post(path)
            assert refused.status_code == 403, path
            assert "only its creator or an owner of the account can change it" in refused.text
            assert "Ask an owner, or add an endpoint of your own" in refused.text
        assert server.rows(state, i=bobs["id"]) == before
        assert server.scalar(deliveries, i=bobs["id"]) == 1

        # ... and changes her own
        assert alice.post(f"/console/webhooks/{alices}/rotate").status_code == 200
        assert alice.post(f"/console/webhooks/{alices}/test").status_code == 303
        # an owner and the operator change every one
        assert owner.post(f"/console/webhooks/{bobs['id']}/rotate").status_code == 200
        assert owner.post(f"/console/webhooks/{alices}/test").status_code == 303
        assert console.post(f"/console/webhooks/{ops['id']}/rotate").status_code == 200
        replayed = owner.post(f"/console/webhooks/deliveries/{delivery}/replay")
        assert replayed.status_code == 303
        assert server.scalar(deliveries, i=bobs["id"]) == 2

        # a removed member's endpoints stay with the account, its owners' to manage
        async def remove_alice(ctx: ServerContext) -> None:
            async with ctx.sessionmaker() as session:
                await members.remove_member(session, alice_id)

        server.run(remove_alice)
        assert server.scalar(creator, i=alices) is None
        assert owner.post(f"/console/webhooks/{alices}/remove").status_code == 303
        assert owner.post(f"/console/webhooks/{bobs['id']}/remove").status_code == 303
        assert endpoint_ids(server, account) == [ops["id"]]
    finally:
        for client in (owner, alice, bob):
            client.close()
