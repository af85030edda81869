"""One time zone on every surface a person reads: the server's ``timezone`` setting.

The console (signed-in pages, sign-in and set-password pages, the Upstream page's
circuit history) and every ``jditem admin`` listing show times in it; JSON outputs carry
ISO-8601 with its offset. America/Sao_Paulo (UTC-3 all year, no daylight saving since
2019) is neither UTC nor the default Asia/Shanghai, so a surface that ignores the setting
shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from jditem.cli.app import build_app
from tests.server.console.conftest import ConsoleClient
from tests.support.live_server import LiveServer, live_server
from tests.support.waiting import wait_until

ZONE = "America/Sao_Paulo"
#: A circuit event stored at 03:04:05 UTC: 00:04:05 in the zone.
EVENT_UTC = "2026-01-02 03:04:05.000000"
EVENT_LOCAL = "2026-01-02 00:04:05"
EVENT_ISO = "2026-01-02T00:04:05-03:00"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server(timezone=ZONE) as live:
        live.execute(
            "INSERT INTO upstream_events (created_at, state, code, message) "
            "VALUES (:at, 'open', 601, 'upstream balance exhausted')",
            at=EVENT_UTC,
        )
        yield live


def admin(live: LiveServer, *args: str) -> str:
    result = CliRunner().invoke(
        build_app(), ["admin", "--db", live.db_url, *args], env={"JDITEM_TIMEZONE": ZONE}
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def test_signed_in_pages_and_the_upstream_history_use_the_zone(server: LiveServer) -> None:
    console = ConsoleClient(server)
    try:
        console.sign_in()
        page = console.get("/console/upstream")
    finally:
        console.close()
    assert page.status_code == 200
    assert f"Times in {ZONE}" in page.text
    history = page.text.split('id="circuit-history"', 1)[1]
    assert EVENT_LOCAL in history
    assert "UTC" not in history
    assert "+00:00" not in history


def test_sign_in_and_set_password_pages_name_the_zone(server: LiveServer) -> None:
    server.make_token("acme")
    link = admin(server, "member", "add", "tz@example.com", "--account", "acme")
    key = link.strip().splitlines()[-1].split("key=", 1)[1]
    console = ConsoleClient(server)
    try:
        for path in ("/console/login", f"/console/set-password?key={key}"):
            page = console.get(path)
            assert page.status_code == 200, path
            assert f"Times in {ZONE}" in page.text, path
            assert "Times in UTC" not in page.text, path
    finally:
        console.close()


def test_admin_upstream_shows_the_history_in_the_zone(server: LiveServer) -> None:
    table = admin(server, "upstream")
    assert EVENT_ISO in table
    assert "+00:00" not in table
    summary = json.loads(admin(server, "upstream", "--json"))
    assert summary["circuit"]["history"][0]["at"] == EVENT_ISO


def test_admin_listings_and_their_json_use_the_zone(server: LiveServer) -> None:
    token = server.make_token("zoned")
    server.topup("zoned", "1")
    charged = lambda: server.get("100012043978", token).status_code == 200  # noqa: E731
    wait_until(charged, what="a charged call (the token's last-used time)")
    for args in (("account", "list"), ("token", "list"), ("ledger",), ("member", "list")):
        text = admin(server, *args)
        assert "-03:00" in text, args
        assert "+00:00" not in text, args
        assert "+08:00" not in text, args
        lines = admin(server, *args, "--json").splitlines()
        assert lines, args
        for line in lines:
            row = json.loads(line)
            assert row["created_at"].endswith("-03:00"), (args, row)
