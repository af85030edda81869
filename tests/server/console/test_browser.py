"""The console in a real browser: Playwright driving Debian's Chromium headless.

Skipped (loudly) when /usr/bin/chromium is missing (``tests/support/browser.py``).
Screenshots of every page go to ``test-output/console/``.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

from tests.support.backends import Backend
from tests.support.browser import BROWSER_TESTS, SHOTS, browser_tab
from tests.support.live_server import LiveServer, live_server
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver

PAGES = {
    "overview": "/console",
    "tokens": "/console/tokens",
    "balance": "/console/balance",
    "calls": "/console/calls",
    "trends": "/console/trends",
    "spending": "/console/spending",
    "tasks": "/console/tasks",
    "jobs": "/console/jobs",
    "watch": "/console/watch",
}

pytestmark = BROWSER_TESTS


@pytest.fixture(scope="module")
def server(backend: Backend) -> Iterator[LiveServer]:
    # webhook receivers of the tour run on loopback, allowed explicitly
    with backend.database(), live_server(webhook_allow_networks=["127.0.0.0/8"]) as live:
        yield live


@pytest.fixture(scope="module")
def browser_page(server: LiveServer) -> Iterator[tuple[Page, list[str]]]:
    with browser_tab(server.base_url) as tab:
        yield tab


def test_console_in_a_browser(server: LiveServer, browser_page: tuple[Page, list[str]]) -> None:
    """Sign in, render every page, create a token, run a 20-item job, download its CSV."""
    page, errors = browser_page
    seed = server.make_token("acme", balance_yuan="5", name="seed")
    server.get("100012043978", server.make_token("acme", name="seed-2"))
    list_id = _watch_list(server, seed, ["100012043978", "100", "200"])

    page.goto("/console/tokens")
    assert "/console/login" in page.url
    page.screenshot(path=str(SHOTS / "login.png"), full_page=True)
    page.click("summary")  # the operator form is folded under the members' one
    page.fill("input[name=admin_key]", server.admin_key)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/console/tokens")

    for name, path in PAGES.items():
        response = page.goto(path)
        assert response is not None, path
        assert response.status == 200, (path, response.status)
        assert page.locator("h1").count() == 1
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    # Create a token: shown once, with a copy button; then it works on the API.
    page.goto("/console/tokens")
    page.fill("#create-token input[name=name]", "from-browser")
    page.click("#create-token button[type=submit]")
    raw = page.locator("#new-token-value").inner_text().strip()
    page.click("button[data-copy]")
    page.screenshot(path=str(SHOTS / "token-created.png"), full_page=True)
    assert raw.startswith(page.locator("#token-list code").last.inner_text().rstrip("…"))
    page.goto("/console/tokens")
    assert raw not in page.content()
    body = httpx.get(
        server.base_url + "/api/jd/get-item-detail/v2",
        params={"itemId": "100012043978"},
        headers={"Authorization": f"Bearer {raw}"},
        timeout=30,
    ).json()
    assert body["code"] == 0, body

    # A bulk job of 20 ids, charged to the new token; live progress; CSV with 20 rows.
    page.goto("/console/jobs")
    token_id = server.scalar("SELECT id FROM tokens WHERE name = 'from-browser'")
    page.select_option("#job-form select[name=token]", str(token_id))
    page.fill("#job-form textarea[name=items]", "\n".join(str(700_000 + i) for i in range(20)))
    page.click("#preview-job")  # the preview first: 20 items, nothing skipped
    assert "20 items will be submitted" in page.locator("#job-preview").inner_text()
    page.click("#start-job")
    page.wait_for_url("**/console/jobs/j_*")
    page.screenshot(path=str(SHOTS / "job-running.png"), full_page=True)
    page.wait_for_selector("#download-csv", timeout=60_000)
    page.screenshot(path=str(SHOTS / "job-done.png"), full_page=True)
    with page.expect_download() as info:
        page.click("#download-csv")
    text = Path(info.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 20
    assert {r["sku_id"] for r in rows} == {str(700_000 + i) for i in range(20)}

    task_id = server.scalar("SELECT id FROM tasks WHERE status = 'succeeded' LIMIT 1")
    page.goto(f"/console/tasks/{task_id}")
    page.screenshot(path=str(SHOTS / "task.png"), full_page=True)
    page.goto("/console/calls")
    page.screenshot(path=str(SHOTS / "calls-after-job.png"), full_page=True)

    # A watch list's page, then an item's history (acme called it twice above).
    page.goto(f"/console/watch/{list_id}")
    page.screenshot(path=str(SHOTS / "watch-list.png"), full_page=True)
    page.click('#watch-items a[href^="/console/items/100012043978"]')
    page.wait_for_url("**/console/items/100012043978*")
    assert page.locator("svg.price-chart").count() == 1
    page.screenshot(path=str(SHOTS / "item.png"), full_page=True)
    page.goto("/console/watch")
    page.click("#watch-lists button[type=submit]")  # resume the paused list
    page.wait_for_selector(".flash")
    page.screenshot(path=str(SHOTS / "watch-resumed.png"), full_page=True)

    _webhooks_tour(server, page)
    assert errors == [], errors


def _webhooks_tour(server: LiveServer, page: Page) -> None:
    """Add an endpoint (its secret shown once), send it a test event, replay it."""
    with WebhookReceiver(status=204) as receiver:
        page.goto("/console/webhooks")
        page.fill("#webhook-add input[name=account]", "acme")
        page.fill("#webhook-add input[name=url]", receiver.base_url + "/tour")
        page.check("#webhook-add input[value=price_drop]")
        page.click("#webhook-add button[type=submit]")
        secret = page.locator("#new-secret-value").inner_text().strip()
        assert secret.startswith("whsec_")
        page.screenshot(path=str(SHOTS / "webhooks.png"), full_page=True)
        endpoint = int(server.scalar("SELECT max(id) FROM webhook_endpoints"))
        page.goto(f"/console/webhooks/{endpoint}")
        page.click("#webhook-test button[type=submit]")  # send a test event
        page.wait_for_selector(".flash")
        wait_until(lambda: receiver.received, "the test event arrives")
        page.reload()
        page.click("#webhook-deliveries button[type=submit]")  # replay it
        page.wait_for_selector(".flash")
        wait_until(lambda: len(receiver.received) >= 2, "the replay arrives")
        page.reload()
        assert page.locator("#webhook-deliveries > tbody > tr").count() == 2
        page.screenshot(path=str(SHOTS / "webhook-deliveries.png"), full_page=True)
        assert secret not in page.content()


def _watch_list(server: LiveServer, token: str, items: list[str]) -> int:
    """A paused watch list of ``items`` under ``token`` (through the API); its id."""
    headers = {"Authorization": f"Bearer {token}"}
    for method, path, body in (
        (
            "POST",
            "/api/watch/lists",
            {"name": "dailies", "intervalSeconds": 3600, "dailyBudget": "1"},
        ),
        ("PATCH", "/api/watch/lists/dailies", {"paused": True}),
        ("POST", "/api/watch/lists/dailies/items", {"items": items}),
    ):
        response = server.http.request(method, path, json=body, headers=headers)
        assert response.json()["code"] == 0, response.text
    return int(server.scalar("SELECT id FROM watch_lists WHERE name = 'dailies'"))


@contextmanager
def framing_site(target: str) -> Iterator[str]:
    """Another origin on the same site (127.0.0.1, another port) whose page frames
    ``target``; yields that page's URL."""
    body = f'<!doctype html><iframe id="f" src="{target}"></iframe>'.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Handler) as site:
        thread = threading.Thread(target=site.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{site.server_address[1]}/frame.html"
        finally:
            site.shutdown()
            thread.join(10)


def test_another_same_site_origin_cannot_frame_the_console(
    server: LiveServer, browser_page: tuple[Page, list[str]]
) -> None:
    """Issue 16 item 10: a signed-in tokens page rendered inside a frame of another origin
    on the same site (same host, another port: the SameSite=Strict cookie still goes)."""
    page, _ = browser_page
    page.goto("/console/tokens")
    if "/console/login" in page.url:
        page.click("summary")
        page.fill("input[name=admin_key]", server.admin_key)
        page.click("#login-form button[type=submit]")
        page.wait_for_url("**/console/tokens")
    assert page.locator("text=Create a token").count() == 1  # signed in
    with framing_site(server.base_url + "/console/tokens") as url:
        page.goto(url)  # returns after "load", which waits for the frame
        frames = [f for f in page.frames if f is not page.main_frame]
        assert len(frames) == 1
        assert "Create a token" not in frames[0].content(), frames[0].url
