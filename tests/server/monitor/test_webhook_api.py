"""``/api/webhooks`` on a real server (loopback, both store profiles): add (the secret
shown once), list, show, rotate, remove; refusals at creation (SSRF guard, unknown
lists and kinds) with a clear 400; another account's endpoint is 404."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.backends import Backend
from tests.support.live_server import LiveServer, live_server
from tests.support.user_api import call

HOOKS = "/api/webhooks"
#: A public address literal: accepted by the guard, never contacted (no dispatcher here).
PUBLIC = "https://93.184.215.14/hooks/jd?k=1"


@pytest.fixture(scope="module")
def server(backend: Backend) -> Iterator[LiveServer]:
    with (
        backend.database(),
        live_server(webhook_dispatcher=False, watch_scheduler=False) as live,
    ):
        yield live


def test_add_shows_the_secret_once_then_list_rotate_remove(server: LiveServer) -> None:
    token = server.make_token("wh-crud")
    made = call(server, token, "POST", HOOKS, {"url": PUBLIC, "kinds": ["price_drop"]})
    assert made["code"] == 0, made
    secret = made["data"]["secret"]
    assert secret.startswith("whsec_")
    endpoint = made["data"]["id"]
    assert made["data"]["enabled"] is True
    assert made["data"]["kinds"] == ["price_drop"]
    listed = call(server, token, "GET", HOOKS)
    assert [e["id"] for e in listed["data"]["endpoints"]] == [endpoint]
    assert "whsec_" not in str(listed)
    assert "whsec_" not in str(call(server, token, "GET", f"{HOOKS}/{endpoint}"))
    stored = server.scalar("SELECT secret_sealed FROM webhook_endpoints WHERE id = :i", i=endpoint)
    assert secret not in stored  # sealed at rest
    rotated = call(server, token, "POST", f"{HOOKS}/{endpoint}/rotate", {"overlapSeconds": 3600})
    assert rotated["code"] == 0, rotated
    assert rotated["data"]["secret"].startswith("whsec_")
    assert rotated["data"]["secret"] != secret
    assert rotated["data"]["previousSecretUntil"] is not None
    shown = call(server, token, "GET", f"{HOOKS}/{endpoint}")["data"]
    assert shown["previousSecretUntil"] == rotated["data"]["previousSecretUntil"]
    gone = call(server, token, "DELETE", f"{HOOKS}/{endpoint}")
    assert gone["data"] == {"deleted": endpoint}
    assert call(server, token, "GET", f"{HOOKS}/{endpoint}")["code"] == 404


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://localhost/hook", "localhost resolves to"),
        ("https://2130706433/hook", "127.0.0.1"),
        ("https://[::ffff:127.0.0.1]/hook", "127.0.0.1"),
        ("https://169.254.169.254/latest", "link-local"),
        ("http://93.184.215.14/hook", "https"),
        ("ftp://93.184.215.14/hook", "https"),
    ],
)
def test_a_forbidden_url_is_refused_at_creation(server: LiveServer, url: str, says: str) -> None:
    token = server.make_token("wh-ssrf")
    refused = call(server, token, "POST", HOOKS, {"url": url})
    assert (refused["code"], refused["http"]) == (400, 400), refused
    assert refused["message"].startswith("url: ")
    assert says in refused["message"]
    assert call(server, token, "GET", HOOKS)["data"]["endpoints"] == []


def test_bad_filters_are_a_clear_400_and_others_endpoints_404(server: LiveServer) -> None:
    token = server.make_token("wh-bad")
    kind = call(server, token, "POST", HOOKS, {"url": PUBLIC, "kinds": ["price_crash"]})
    assert kind["code"] == 400
    assert "price_crash" in kind["message"]
    assert "price_drop" in kind["message"]  # says what to choose from
    missing = call(server, token, "POST", HOOKS, {"url": PUBLIC, "lists": ["nope"]})
    assert missing["code"] == 400
    assert "nope" in missing["message"]
    unknown = call(server, token, "POST", HOOKS, {"url": PUBLIC, "colour": "red"})
    assert unknown["code"] == 400
    assert "colour" in unknown["message"]
    mine = call(server, token, "POST", HOOKS, {"url": PUBLIC})["data"]["id"]
    other = server.make_token("wh-other")
    for method, path in [
        ("GET", f"{HOOKS}/{mine}"),
        ("DELETE", f"{HOOKS}/{mine}"),
        ("POST", f"{HOOKS}/{mine}/rotate"),
        ("POST", f"{HOOKS}/{mine}/test"),
        ("GET", f"{HOOKS}/{mine}/deliveries"),
    ]:
        assert call(server, other, method, path)["code"] == 404, (method, path)
    assert call(server, "not-a-token", "GET", HOOKS)["code"] == 100
