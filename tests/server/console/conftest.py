"""Fixtures for the console tests: a live server and a signed-in HTTP client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.backends import Backend
from tests.support.live_server import LiveServer, live_server

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_LOGIN = re.compile(r'name="login_token" value="([^"]+)"')


class ConsoleClient:
    """An httpx client that signs in to the console and adds the CSRF token to forms."""

    def __init__(self, live: LiveServer) -> None:
        self.live = live
        self.http = httpx.Client(base_url=live.base_url, follow_redirects=False, timeout=60.0)
        self.csrf = ""

    def sign_in(self, next_path: str = "/console") -> httpx.Response:
        """Sign in with the admin key; remembers the session's CSRF token."""
        form = self.http.get("/console/login")
        login_token = _LOGIN.search(form.text)
        assert login_token, form.text
        response = self.http.post(
            "/console/login",
            data={
                "login_token": login_token.group(1),
                "admin_key": self.live.admin_key,
                "next": next_path,
            },
        )
        assert response.status_code == 303, response.text
        page = self.http.get("/console")
        match = _CSRF.search(page.text)
        assert match, page.text
        self.csrf = match.group(1)
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """POST a form, with the session's CSRF token unless ``csrf=False``."""
        body = dict(data or {})
        if csrf:
            body["csrf_token"] = self.csrf
        return self.http.post(path, data=body, **kwargs)

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="module")
def server(backend: Backend) -> Iterator[LiveServer]:
    """One live server per test module (temp SQLite, fast sandbox)."""
    with backend.database(), live_server() as live:
        yield live


@pytest.fixture
def console(server: LiveServer) -> Iterator[ConsoleClient]:
    """A signed-in console client on the module's server."""
    client = ConsoleClient(server)
    client.sign_in()
    yield client
    client.close()


@pytest.fixture
def anonymous(server: LiveServer) -> Iterator[ConsoleClient]:
    """A console client without a session."""
    client = ConsoleClient(server)
    yield client
    client.close()
