"""Forwarded headers are believed only from the proxies the operator lists (issue 16
item 11): by default the client address is the TCP peer, so per-address sign-in
throttling cannot be dodged by sending a new ``X-Forwarded-For`` with each guess."""

from __future__ import annotations

import re

import httpx
import pytest

from jditem.server.settings import Settings
from tests.support.live_server import LiveServer, live_server

#: the throttle counts live in Redis in the scale-out profile: both profiles are tested
per_profile = pytest.mark.usefixtures("backend")

_LOGIN = re.compile(r'name="login_token" value="([^"]+)"')


def _wrong_password(live: LiveServer, attempt: int, headers: dict[str, str]) -> int:
    """One member sign-in with a wrong password, each for another e-mail (so only the
    per-address throttle can stop them); the HTTP status."""
    with httpx.Client(base_url=live.base_url, timeout=30.0) as http:
        page = http.get("/console/login", headers=headers)
        match = _LOGIN.search(page.text)
        assert match, page.text
        answer = http.post(
            "/console/login",
            data={
                "login_token": match.group(1),
                "email": f"guess{attempt}@example.com",
                "password": "not the password",
                "next": "/console",
            },
            headers=headers,
        )
    return answer.status_code


def _spoofed(attempt: int) -> dict[str, str]:
    address = f"203.0.113.{attempt + 1}"
    return {
        "X-Forwarded-For": address,
        "X-Real-IP": address,
        "Forwarded": f"for={address};proto=https",
    }


@per_profile
def test_forwarded_headers_are_ignored_by_default() -> None:
    with live_server(auth_free_failures=2) as live:
        statuses = [_wrong_password(live, n, _spoofed(n)) for n in range(4)]
    assert statuses[:2] == [401, 401]
    assert statuses[2:] == [429, 429], statuses  # one address: the TCP peer


@per_profile
def test_a_listed_proxy_is_believed() -> None:
    with live_server(auth_free_failures=2, trusted_proxies=["127.0.0.1"]) as live:
        statuses = [_wrong_password(live, n, _spoofed(n)) for n in range(4)]
        assert statuses == [401] * 4  # four clients behind the proxy, one failure each
        same = {"X-Forwarded-For": "198.51.100.7"}
        assert [_wrong_password(live, 10 + n, same) for n in range(3)] == [401, 401, 429]
        # the proxy's own address is throttled apart from its clients
        assert _wrong_password(live, 20, {}) == 401


@per_profile
def test_a_proxy_that_is_not_listed_is_not_believed() -> None:
    with live_server(auth_free_failures=2, trusted_proxies=["10.0.0.0/8"]) as live:
        statuses = [_wrong_password(live, n, _spoofed(n)) for n in range(3)]
    assert statuses == [401, 401, 429]


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("", []),
        ("127.0.0.1", ["127.0.0.1"]),
        (" 127.0.0.1 , 10.0.0.0/8,::1 ", ["127.0.0.1", "10.0.0.0/8", "::1"]),
        ("*", ["*"]),
    ],
)
def test_trusted_proxies_setting(
    monkeypatch: pytest.MonkeyPatch, raw: str, parsed: list[str]
) -> None:
    monkeypatch.setenv("JDITEM_TRUSTED_PROXIES", raw)
    assert Settings().trusted_proxies == parsed


def test_a_bad_trusted_proxy_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JDITEM_TRUSTED_PROXIES", "127.0.0.1,localhost")
    with pytest.raises(ValueError, match="'localhost' is not an IP address or network"):
        Settings()
