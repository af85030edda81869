"""Helpers for the account-member console tests: add a member (through the real
service on the server's loop), open its set-password link, sign in with e-mail and
password."""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx

from jditem.server.accounts import members
from jditem.server.context import ServerContext
from tests.server.console.conftest import ConsoleClient
from tests.support.live_server import LiveServer

PASSWORD = "correct horse battery staple"  # a test password
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_LOGIN = re.compile(r'name="login_token" value="([^"]+)"')
LINK = re.compile(r"(https?://[^\s<\"]+/console/set-password\?key=[A-Za-z0-9_-]+)")


def unique(prefix: str) -> str:
    """A name no other test on the module's server uses."""
    return f"{prefix}-{secrets.token_hex(4)}"


def make_account(live: LiveServer, name: str | None = None) -> str:
    """Create an account (admin API); returns its name."""
    account = name or unique("acct")
    live.admin("POST", "/accounts", {"name": account, "balance_yuan": "10"})
    return account


def add_member(live: LiveServer, email: str, account: str, role: str = "member") -> str:
    """Add a member through the service; returns its set-password path."""

    async def add(ctx: ServerContext) -> str:
        async with ctx.sessionmaker() as session:
            _, secret = await members.add_member(session, email, account, role)
        return members.setup_path(secret)

    return live.run(add)


def login_token(http: httpx.Client, path: str = "/console/login") -> str:
    """The sign-in (or set-password) form's token; its cookie stays in ``http``."""
    page = http.get(path)
    match = _LOGIN.search(page.text)
    assert match, page.text
    return match.group(1)


def set_password(http: httpx.Client, link: str, password: str = PASSWORD) -> httpx.Response:
    """Open the set-password link and submit the password twice."""
    path = link[link.index("/console/") :]
    key = path.split("key=", 1)[1]
    token = login_token(http, path)
    return http.post(
        "/console/set-password",
        data={"login_token": token, "key": key, "password": password, "again": password},
    )


def post_login(http: httpx.Client, email: str, password: str) -> httpx.Response:
    """Submit the sign-in form with an e-mail and password."""
    token = login_token(http)
    return http.post(
        "/console/login",
        data={"login_token": token, "email": email, "password": password, "next": "/console"},
    )


class MemberClient(ConsoleClient):
    """A console client signed in as an account member."""

    def __init__(self, live: LiveServer, **client: Any) -> None:
        super().__init__(live)
        if client:
            self.http.close()
            self.http = httpx.Client(
                base_url=live.base_url, follow_redirects=False, timeout=60.0, **client
            )

    def sign_in_member(self, email: str, password: str = PASSWORD) -> httpx.Response:
        """Sign in with e-mail and password; remembers the session's CSRF token."""
        response = post_login(self.http, email, password)
        assert response.status_code == 303, response.text
        page = self.http.get("/console/sessions")
        assert page.status_code == 200, page.text
        match = _CSRF.search(page.text)
        assert match, page.text
        self.csrf = match.group(1)
        return response


def new_member(
    live: LiveServer,
    account: str,
    role: str = "member",
    password: str = PASSWORD,
    **client: Any,
) -> tuple[MemberClient, str]:
    """Add a member with a password and sign it in; returns (client, e-mail)."""
    email = f"{unique('m')}@example.com"
    link = add_member(live, email, account, role)
    client = MemberClient(live, **client)
    assert set_password(client.http, link, password).status_code == 303
    client.sign_in_member(email, password)
    return client, email
