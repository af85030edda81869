"""Browser-facing response headers (issue 16 item 10): console pages cannot be framed by
any site, are never sniffed, and keep their address to the same origin; API answers are
never sniffed either."""

from __future__ import annotations

import httpx
import pytest

from tests.server.console.conftest import ConsoleClient
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.usefixtures("backend")


def _framing_refused(response: httpx.Response) -> None:
    assert response.headers["x-frame-options"] == "DENY"
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_signed_in_tokens_page_refuses_frames(console: ConsoleClient) -> None:
    page = console.get("/console/tokens")
    assert page.status_code == 200
    assert "Create a token" in page.text
    _framing_refused(page)
    assert page.headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize(
    "path",
    [
        "/console/login",
        "/console/login?next=/console/tokens",
        "/console/set-password?key=nothing",
        "/console/static/console.css",
        "/console/tokens",  # not signed in: the redirect too
        "/console/no-such-page",
    ],
)
def test_every_console_answer_carries_them(server: LiveServer, path: str) -> None:
    response = httpx.get(server.base_url + path, follow_redirects=False)
    _framing_refused(response)


def test_a_page_keeps_its_stricter_referrer_policy(server: LiveServer) -> None:
    page = httpx.get(server.base_url + "/console/set-password?key=nothing")
    assert page.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize(
    "path",
    [
        "/api/health",
        "/api/health/jd/get-item-detail/v2",
        "/api/jd/get-item-detail/v2?itemId=1",
        "/api/admin/accounts",
        "/api/unknown",
        "/openapi.json",
    ],
)
def test_api_answers_are_never_sniffed(server: LiveServer, path: str) -> None:
    response = httpx.get(server.base_url + path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "x-frame-options" not in response.headers  # only the console needs it
