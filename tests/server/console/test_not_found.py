"""An unknown console path in a browser is a page; API paths and JSON clients keep the
envelope (SPEC §2.1)."""

from __future__ import annotations

import pytest

from tests.server.console.conftest import ConsoleClient

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("path", ["/console/no-such-page", "/console/static/missing.css"])
def test_an_unknown_console_path_in_a_browser_is_a_page(
    anonymous: ConsoleClient, path: str
) -> None:
    page = anonymous.get(path, headers={"Accept": BROWSER})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in page.text
    assert 'href="/console"' in page.text
    assert page.headers["X-Request-Id"]


def test_signed_in_the_page_is_the_same(console: ConsoleClient) -> None:
    page = console.get("/console/tokens/extra/segments", headers={"Accept": BROWSER})
    assert page.status_code == 404
    assert "<h1>Not found</h1>" in page.text


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/console/no-such-page", "application/json"),
        ("/console/no-such-page", "application/json, text/html;q=0.5"),
        ("/console/no-such-page", "*/*"),  # httpx, curl: not a browser
        ("/api/no-such-path", BROWSER),
        ("/no-such-path", BROWSER),
    ],
)
def test_api_paths_and_json_clients_keep_the_envelope(
    anonymous: ConsoleClient, path: str, accept: str
) -> None:
    answer = anonymous.get(path, headers={"Accept": accept})
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["code"] == 404
    assert body["requestId"] == answer.headers["X-Request-Id"]


def test_a_wrong_method_on_a_console_path_is_still_the_envelope(
    anonymous: ConsoleClient,
) -> None:
    answer = anonymous.http.request("DELETE", "/console/login", headers={"Accept": BROWSER})
    assert answer.status_code == 405
    assert answer.json()["code"] == 400
