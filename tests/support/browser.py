"""A real browser for the console tests: Playwright driving Debian's Chromium headless.

Browser tests are skipped (loudly) when /usr/bin/chromium is missing; ``.ci/run``
installs it. Screenshots go to ``test-output/console/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "console"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: ``pytestmark`` of a browser test module.
BROWSER_TESTS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="BROWSER TESTS SKIPPED: /usr/bin/chromium is missing "
        "(install it with `apt-get install chromium`; .ci/run does)",
    ),
]


@contextmanager
def browser_tab(base_url: str) -> Iterator[tuple[Page, list[str]]]:
    """A tab on ``base_url`` and the list its page errors and console errors go to."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(base_url=base_url, accept_downloads=True)
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.on(
            "console",
            lambda msg: errors.append(f"{page.url}: {msg.text}") if msg.type == "error" else None,
        )
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
        try:
            yield page, errors
        finally:
            context.close()
            browser.close()
