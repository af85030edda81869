"""Sign-in, sessions, sign-out and CSRF protection of the console (real server)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.server.console.conftest import ConsoleClient

# once per store profile (tests/conftest.py: backend)
pytestmark = pytest.mark.usefixtures("backend")

PAGES = [
    "/console",
    "/console/tokens",
    "/console/tokens/1",
    "/console/balance",
    "/console/calls",
    "/console/calls.csv",
    "/console/trends",
    "/console/spending",
    "/console/tasks",
    "/console/tasks/t_x",
    "/console/jobs",
    "/console/jobs/j_x",
    "/console/jobs/j_x/progress.json",
]

FORMS = [
    ("/console/tokens", {"account": "acme", "name": "x", "permissions": "*"}),
    ("/console/tokens/1/enabled", {"enabled": "0"}),
    ("/console/tokens/1", {"name": "x", "permissions": "*"}),
    ("/console/balance/topup", {"account": "acme", "amount": "1"}),
    ("/console/balance/accounts", {"name": "csrf-test"}),
    ("/console/jobs", {"token": "1", "items": "100012043978"}),
    ("/console/jobs/j_x/resume", {}),
    ("/console/logout", {}),
]


@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_to_sign_in_without_a_session(anonymous: ConsoleClient, path: str) -> None:
    response = anonymous.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login?next=")


def test_sign_in_sets_a_strict_httponly_cookie(anonymous: ConsoleClient) -> None:
    response = anonymous.sign_in(next_path="/console/calls")
    assert response.headers["location"] == "/console/calls"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("jditem_console=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/console" in cookie
    assert anonymous.live.admin_key not in cookie
    assert anonymous.get("/console/calls").status_code == 200


def test_wrong_admin_key_is_refused(anonymous: ConsoleClient) -> None:
    page = anonymous.get("/console/login")
    token = page.text.split('name="login_token" value="')[1].split('"')[0]
    response = anonymous.http.post(
        "/console/login", data={"login_token": token, "admin_key": "wrong", "next": "/console"}
    )
    assert response.status_code == 401
    assert "JDITEM_ADMIN_KEY" in response.text
    assert "jditem_console=" not in response.headers.get("set-cookie", "").split(",")[0]


def test_sign_in_form_without_its_csrf_token_is_refused(anonymous: ConsoleClient) -> None:
    anonymous.get("/console/login")
    response = anonymous.http.post(
        "/console/login", data={"admin_key": anonymous.live.admin_key, "next": "/console"}
    )
    assert response.status_code == 403
    assert anonymous.get("/console").status_code == 303


def test_next_cannot_leave_the_console(anonymous: ConsoleClient) -> None:
    response = anonymous.sign_in(next_path="https://evil.example/")
    assert response.headers["location"] == "/console"


def test_forged_session_cookie_is_ignored(anonymous: ConsoleClient) -> None:
    anonymous.http.cookies.set("jditem_console", "eyJzaWQiOiJ4In0.forged.sig", path="/console")
    assert anonymous.get("/console").status_code == 303


@pytest.mark.parametrize(("path", "data"), FORMS)
def test_forms_reject_a_missing_csrf_token(
    console: ConsoleClient, path: str, data: dict[str, str]
) -> None:
    response = console.post(path, data, csrf=False)
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert "no CSRF token" in response.text


@pytest.mark.parametrize(("path", "data"), FORMS)
def test_forms_reject_another_sessions_csrf_token(
    console: ConsoleClient, path: str, data: dict[str, str]
) -> None:
    response = console.post(path, {**data, "csrf_token": "x" * 32}, csrf=False)
    assert response.status_code == 403
    assert "does not belong to this session" in response.text


def test_rejected_forms_change_nothing(console: ConsoleClient) -> None:
    console.post("/console/balance/accounts", {"name": "never-created"}, csrf=False)
    assert console.live.scalar("SELECT count(*) FROM accounts WHERE name = 'never-created'") == 0


def test_sign_out_revokes_the_session(console: ConsoleClient) -> None:
    cookie = console.http.cookies.get("jditem_console")
    response = console.post("/console/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"
    assert console.get("/console").status_code == 303
    # Replaying the old cookie does not work either.
    console.http.cookies.set("jditem_console", cookie or "", path="/console")
    assert console.get("/console").status_code == 303


def test_console_is_disabled_without_an_admin_key() -> None:
    from tests.support.live_server import live_server

    with live_server(admin_key=None) as live:
        client = ConsoleClient(live)
        response = client.get("/console")
        login = client.get("/console/login")
        client.close()
    assert response.status_code == 503
    assert "JDITEM_ADMIN_KEY" in response.text
    assert login.status_code == 503


def _signed_in_cookie(live: Any) -> tuple[ConsoleClient, str]:
    client = ConsoleClient(live)
    client.sign_in()
    return client, client.http.cookies.get("jditem_console") or ""


def test_sign_out_survives_a_restart(tmp_path: Path) -> None:
    """Sessions are database rows: a signed-out cookie stays refused after a restart,
    and a session that was not signed out stays valid."""
    from tests.support.live_server import live_server

    key = secrets.token_urlsafe(32)
    with live_server(home=tmp_path, admin_key=key) as live:
        leaving, old_cookie = _signed_in_cookie(live)
        staying, kept_cookie = _signed_in_cookie(live)
        assert leaving.post("/console/logout").status_code == 303
        leaving.close()
        staying.close()
        assert live.scalar("SELECT count(*) FROM console_sessions") == 1
    with live_server(home=tmp_path, admin_key=key) as live:
        client = ConsoleClient(live)
        client.http.cookies.set("jditem_console", old_cookie, path="/console")
        assert client.get("/console").status_code == 303  # to the sign-in page
        client.http.cookies.set("jditem_console", kept_cookie, path="/console")
        assert client.get("/console").status_code == 200
        client.close()


def test_session_rows_hold_no_session_id(console: ConsoleClient) -> None:
    cookie = console.http.cookies.get("jditem_console") or ""
    rows = console.live.rows("SELECT sid_hash FROM console_sessions")
    assert rows
    assert all(len(row[0]) == 64 and row[0] not in cookie for row in rows)
