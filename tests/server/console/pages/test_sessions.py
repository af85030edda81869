"""Your sessions, password change, member sign-in throttling and session revocation
across a restart, on a live server."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from jditem.cli.app import build_app
from tests.server.console.conftest import ConsoleClient
from tests.server.console.member_client import (
    PASSWORD,
    MemberClient,
    add_member,
    make_account,
    new_member,
    post_login,
    set_password,
    unique,
)
from tests.support.live_server import LiveServer, live_server

# once per store profile (tests/conftest.py: backend)
pytestmark = pytest.mark.usefixtures("backend")

_END = re.compile(r'action="/console/sessions/([0-9a-f]+)/end"')
_CURRENT = re.compile(r'<tr class="current">.*?action="/console/sessions/([0-9a-f]+)/end"', re.S)


def _public_ids(client: ConsoleClient) -> list[str]:
    return _END.findall(client.get("/console/sessions").text)


def _current_id(client: ConsoleClient) -> str:
    page = client.get("/console/sessions").text
    match = _CURRENT.search(page)
    assert match, page
    return match.group(1)


@pytest.fixture
def account(server: LiveServer) -> str:
    return make_account(server)


def _second_session(live: LiveServer, email: str, agent: str) -> MemberClient:
    client = MemberClient(live, headers={"User-Agent": agent})
    client.sign_in_member(email)
    return client


def test_sessions_are_listed_with_where_and_what(server: LiveServer, account: str) -> None:
    first, email = new_member(server, account, headers={"User-Agent": "FirstBrowser/1.0"})
    second = _second_session(server, email, "SecondBrowser/2.0")
    page = first.get("/console/sessions")
    assert page.status_code == 200
    assert email in page.text
    assert "FirstBrowser/1.0" in page.text
    assert "SecondBrowser/2.0" in page.text
    assert "127.0.0.1" in page.text
    assert page.text.count("this session") == 1
    assert len(_END.findall(page.text)) == 2
    other_member, _ = new_member(server, account, headers={"User-Agent": "Other/3"})
    assert "Other/3" not in first.get("/console/sessions").text  # only one's own sessions
    for client in (first, second, other_member):
        client.close()


def test_ending_one_session(server: LiveServer, account: str) -> None:
    first, email = new_member(server, account)
    second = _second_session(server, email, "Second/1")
    third, _ = new_member(server, account)
    target = _current_id(second)
    assert first.post(f"/console/sessions/{target}/end").status_code == 303
    assert second.get("/console/sessions").status_code == 303  # to the sign-in page
    assert first.get("/console/sessions").status_code == 200
    # another person's session is not found, and stays
    stranger = _current_id(third)
    assert first.post(f"/console/sessions/{stranger}/end").status_code == 404
    assert third.get("/console/sessions").status_code == 200
    # ending this session signs out
    response = first.post(f"/console/sessions/{_current_id(first)}/end")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"
    assert first.get("/console/sessions").status_code == 303
    for client in (first, second, third):
        client.close()


def test_sign_out_everywhere_else_and_everywhere(server: LiveServer, account: str) -> None:
    here, email = new_member(server, account)
    elsewhere = [_second_session(server, email, f"Other/{i}") for i in range(2)]
    bystander, _ = new_member(server, account)
    response = here.post("/console/sessions/others")
    assert response.status_code == 303
    assert here.get("/console/sessions").status_code == 200
    assert all(c.get("/console/sessions").status_code == 303 for c in elsewhere)
    again = _second_session(server, email, "Again/1")
    response = again.post("/console/sessions/all")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"
    assert here.get("/console/sessions").status_code == 303
    assert again.get("/console/sessions").status_code == 303
    assert bystander.get("/console/sessions").status_code == 200  # another member's: kept
    for client in (here, *elsewhere, again, bystander):
        client.close()


def test_operators_see_operator_sessions(server: LiveServer, account: str) -> None:
    member, _ = new_member(server, account, headers={"User-Agent": "MemberBrowser/1"})
    operator = ConsoleClient(server)
    operator.sign_in()
    page = operator.get("/console/sessions")
    assert page.status_code == 200
    assert "MemberBrowser/1" not in page.text
    assert "this session" in page.text
    assert operator.get("/console/password").status_code == 404  # operators use the key
    assert operator.post("/console/password", {"current": "x"}).status_code == 404
    operator.post("/console/sessions/others")
    assert member.get("/console/sessions").status_code == 200  # members' sessions are theirs
    for client in (member, operator):
        client.close()


def test_password_change_ends_the_other_sessions(server: LiveServer, account: str) -> None:
    here, email = new_member(server, account)
    elsewhere = _second_session(server, email, "Elsewhere/1")
    new = "a completely new passphrase"
    form = here.get("/console/password")
    assert form.status_code == 200
    assert form.headers["cache-control"] == "no-store"
    wrong = here.post(
        "/console/password", {"current": "not it at all", "password": new, "again": new}
    )
    assert wrong.status_code == 400
    assert "current password is not right" in wrong.text
    differ = here.post("/console/password", {"current": PASSWORD, "password": new, "again": "x"})
    assert differ.status_code == 400
    assert "differ" in differ.text
    short = here.post("/console/password", {"current": PASSWORD, "password": "x", "again": "x"})
    assert short.status_code == 400
    assert "too short" in short.text
    assert elsewhere.get("/console/sessions").status_code == 200  # nothing changed yet
    done = here.post("/console/password", {"current": PASSWORD, "password": new, "again": new})
    assert done.status_code == 303
    assert here.get("/console/sessions").status_code == 200  # this session stays
    assert elsewhere.get("/console/sessions").status_code == 303
    with httpx.Client(base_url=server.base_url) as fresh:
        assert post_login(fresh, email, PASSWORD).status_code == 401
        assert post_login(fresh, email, new).status_code == 303
    here.close()
    elsewhere.close()


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/console/sessions/others", {}),
        ("/console/sessions/all", {}),
        ("/console/sessions/0123456789abcdef/end", {}),
        ("/console/password", {"current": PASSWORD, "password": "x" * 20, "again": "x" * 20}),
    ],
)
def test_session_forms_are_csrf_checked(
    server: LiveServer, account: str, path: str, data: dict[str, str]
) -> None:
    client, _ = new_member(server, account)
    response = client.post(path, data, csrf=False)
    assert response.status_code == 403
    assert "no CSRF token" in response.text
    assert client.get("/console/sessions").status_code == 200
    client.close()


# ---------------------------------------------------------------- restart


def _cookie(client: ConsoleClient) -> str:
    return client.http.cookies.get("jditem_console") or ""


def _status_with(live: LiveServer, cookie: str) -> int:
    client = ConsoleClient(live)
    client.http.cookies.set("jditem_console", cookie, path="/console")
    status = client.get("/console/sessions").status_code
    client.close()
    return status


def test_revoked_sessions_stay_revoked_across_a_restart(tmp_path: Path) -> None:
    """Signed out from another session, or by a CLI reset: after a restart on the same
    database the old cookies still go to the sign-in page; a session nobody ended
    still works."""
    key = secrets.token_urlsafe(32)
    with live_server(home=tmp_path, admin_key=key) as live:
        account = make_account(live)
        kept, email = new_member(live, account)
        ended = _second_session(live, email, "Ended/1")
        reset_member, reset_email = new_member(live, account)
        assert kept.post("/console/sessions/others").status_code == 303
        result = CliRunner().invoke(
            build_app(), ["admin", "--db", live.db_url, "member", "reset", reset_email]
        )
        assert result.exit_code == 0, result.stderr
        cookies = {"kept": _cookie(kept), "ended": _cookie(ended), "reset": _cookie(reset_member)}
        for client in (kept, ended, reset_member):
            client.close()
    with live_server(home=tmp_path, admin_key=key) as live:
        assert _status_with(live, cookies["ended"]) == 303
        assert _status_with(live, cookies["reset"]) == 303
        assert _status_with(live, cookies["kept"]) == 200


# ------------------------------------------------------------- throttling


def _frozen_throttles(app: FastAPI) -> None:
    """Stop the sign-in throttles' clocks, so a delay cannot run out on a slow machine
    between two requests of a test."""
    app.state.auth_throttle.clock = lambda: 1_000.0
    app.state.member_throttle.clock = lambda: 1_000.0


@pytest.fixture
def throttled() -> Iterator[LiveServer]:
    """A server of its own (throttle state is per server), 3 free failures."""
    with live_server(configure_app=_frozen_throttles, auth_free_failures=3) as live:
        yield live


def _from(live: LiveServer, address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.x.y.z is loopback)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=live.base_url, transport=transport, timeout=60.0)


def test_sign_in_is_throttled_per_e_mail(throttled: LiveServer) -> None:
    """Wrong passwords for one e-mail from many addresses (none reaches the address
    limit) make that e-mail wait, even with the right password; other e-mails and the
    same addresses are not held up."""
    account = make_account(throttled)
    email = f"{unique('victim')}@example.com"
    other = f"{unique('other')}@example.com"
    for who in (email, other):
        with httpx.Client(base_url=throttled.base_url) as client:
            assert set_password(client, add_member(throttled, who, account)).status_code == 303
    for i in range(3):
        with _from(throttled, f"127.0.1.{i + 1}") as client:
            assert post_login(client, email, f"guess number {i}").status_code == 401
    with _from(throttled, "127.0.1.9") as client:
        held = post_login(client, email, PASSWORD)
        assert held.status_code == 429
        assert int(held.headers["retry-after"]) >= 1
        assert "Too many wrong passwords" in held.text
        assert "jditem_console=" not in held.headers.get("set-cookie", "")
        assert post_login(client, other, PASSWORD).status_code == 303
    with _from(throttled, "127.0.1.1") as client:
        assert post_login(client, other, PASSWORD).status_code == 303


def test_sign_in_is_throttled_per_client_address(throttled: LiveServer) -> None:
    """Wrong passwords for many e-mails from one address make that address wait, even
    for a right password of another member; other addresses go ahead."""
    account = make_account(throttled)
    email = f"{unique('member')}@example.com"
    with httpx.Client(base_url=throttled.base_url) as client:
        assert set_password(client, add_member(throttled, email, account)).status_code == 303
    with _from(throttled, "127.0.2.1") as client:
        for i in range(3):
            wrong = post_login(client, f"{unique('guess')}@example.com", "wrong password")
            assert wrong.status_code == 401, i
        held = post_login(client, email, PASSWORD)
        assert held.status_code == 429
        assert "Retry-After" in held.headers
    with _from(throttled, "127.0.2.2") as client:
        assert post_login(client, email, PASSWORD).status_code == 303


def test_wrong_current_passwords_are_throttled_too(throttled: LiveServer) -> None:
    """A left-open session cannot be used to guess the password at leisure."""
    account = make_account(throttled)
    client, _ = new_member(throttled, account)
    new = "a completely new passphrase"
    for i in range(3):
        response = client.post(
            "/console/password", {"current": f"guess {i} wrong", "password": new, "again": new}
        )
        assert response.status_code == 400
    held = client.post("/console/password", {"current": PASSWORD, "password": new, "again": new})
    assert held.status_code == 429
    assert "Retry-After" in held.headers
    client.close()
