"""The Upstream page on a server without the relay: renders, says so, shows empty figures."""

from __future__ import annotations

from tests.server.console.conftest import ConsoleClient


def test_upstream_page_without_a_relay(console: ConsoleClient) -> None:
    page = console.get("/console/upstream")
    assert page.status_code == 200
    assert "sandbox collector, not the relay" in page.text
    assert 'id="upstream-days"' in page.text
    assert "The circuit has never opened." in page.text
    assert 'href="/console/upstream"' in page.text  # in the navigation
