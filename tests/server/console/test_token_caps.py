"""Operator caps bound every limit an owner or member sets on a token, the burst included
(issue 16 item 9), through the console, the admin API and ``jditem admin account caps``."""

from __future__ import annotations

import asyncio
import html
import re
import time

import httpx
import pytest
from typer.testing import CliRunner

from jditem.cli.app import build_app
from tests.server.console.conftest import ConsoleClient
from tests.server.console.member_client import make_account, new_member
from tests.support.live_server import V2_PATH, LiveServer

pytestmark = pytest.mark.usefixtures("backend")

ITEM = "100012043978"


def _error(page: str) -> str:
    match = re.search(r'<p class="error" role="alert">(.*?)</p>', page, re.S)
    return html.unescape(match.group(1)) if match else ""


async def _burst(base_url: str, token: str, calls: int) -> tuple[int, float]:
    """``calls`` concurrent v2 calls: (admitted = not 302, seconds they took)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as client:
        started = time.monotonic()
        answers = await asyncio.gather(
            *(
                client.get(
                    V2_PATH,
                    params={"itemId": ITEM},
                    headers={"Authorization": f"Bearer {token}"},
                )
                for _ in range(calls)
            )
        )
        elapsed = time.monotonic() - started
    return sum(1 for a in answers if a.json()["code"] != 302), elapsed


def test_an_owner_cannot_pass_a_rate_cap_with_a_burst(server: LiveServer) -> None:
    """The report: an account capped at 2/s, an owner's token at rate 2 and burst
    1,000,000 had 60 concurrent calls admitted at once."""
    account = make_account(server)
    server.execute("UPDATE accounts SET member_max_rate_limit = 2 WHERE name = :a", a=account)
    owner, _ = new_member(server, account, "owner")
    wild_form = {"name": "wild", "rate_limit": "2", "burst": "1000000", "permissions": "*"}
    wild = owner.post("/console/tokens", wild_form)
    assert wild.status_code == 400, wild.text
    assert "set a burst of 2 or less" in _error(wild.text)
    assert server.scalar("SELECT count(*) FROM tokens WHERE name = 'wild'") == 0
    page = owner.get("/console/tokens").text
    assert "burst at most 2" in page  # the caps are shown next to the form
    made = owner.post(
        "/console/tokens", {"name": "tame", "rate_limit": "2", "burst": "", "permissions": "*"}
    )
    assert made.status_code == 200, _error(made.text)
    token = re.search(r"(jd_[A-Za-z0-9_-]{20,})", made.text)
    assert token
    admitted, elapsed = asyncio.run(_burst(server.base_url, token.group(1), 60))
    # a bucket of 2 refilled at 2/s admits at most 2 + 2 per second spent (+1 for rounding)
    assert admitted <= 2 + 2 * elapsed + 1, (admitted, elapsed)
    owner.close()


def test_editing_a_token_is_capped_too(server: LiveServer) -> None:
    account = make_account(server)
    server.admin("PATCH", f"/accounts/{account}/caps", {"max_rate_limit": 5, "max_burst": 3})
    member, _ = new_member(server, account)
    made = member.post("/console/tokens", {"name": "m", "rate_limit": "1", "permissions": "*"})
    assert made.status_code == 200, _error(made.text)
    token_id = server.scalar("SELECT max(id) FROM tokens WHERE name = 'm'")
    for burst, ok in (("4", False), ("3", True)):
        edit = member.post(
            f"/console/tokens/{token_id}",
            {"name": "m", "rate_limit": "5", "burst": burst, "permissions": "*"},
        )
        assert (edit.status_code == 303) is ok, _error(edit.text)
    assert server.scalar("SELECT burst FROM tokens WHERE id = :i", i=token_id) == 3
    member.close()


def test_lowering_caps_lowers_member_tokens_at_once(
    server: LiveServer, console: ConsoleClient
) -> None:
    account = make_account(server)
    owner, _ = new_member(server, account, "owner")
    made = owner.post(
        "/console/tokens", {"name": "big", "rate_limit": "50", "burst": "500", "permissions": "*"}
    )
    assert made.status_code == 200, _error(made.text)
    operator_token = server.admin(
        "POST", "/tokens", {"account": account, "name": "ops", "rate_limit": 50, "burst": 500}
    )["info"]["id"]
    saved = console.post(
        "/console/members/caps",
        {"account": account, "max_rate": "4", "max_burst": "", "max_budget": "", "max_quota": ""},
    )
    assert saved.status_code == 303
    flash = console.get(saved.headers["location"]).text
    assert "1 token(s) of its members were lowered" in flash
    assert server.rows("SELECT rate_limit, burst FROM tokens WHERE name = 'big'") == [(4.0, 4)]
    assert server.rows("SELECT rate_limit, burst FROM tokens WHERE id = :i", i=operator_token) == [
        (50.0, 500)
    ]
    page = console.get("/console/members").text
    assert 'placeholder="4"' in page  # the derived burst cap, shown where it is set
    owner.close()


def test_caps_over_the_admin_api(server: LiveServer) -> None:
    account = make_account(server)
    assert server.admin("GET", f"/accounts/{account}/caps") == {
        "max_budget_units": None,
        "max_rate_limit": None,
        "max_burst": None,
        "max_daily_quota": None,
        "burst_cap": None,
    }
    caps = server.admin(
        "PATCH",
        f"/accounts/{account}/caps",
        {"max_budget_yuan": "2.5", "max_rate_limit": 1.5, "max_burst": 4, "max_daily_quota": 9},
    )
    assert caps == {
        "max_budget_units": 25_000,
        "max_rate_limit": 1.5,
        "max_burst": 4,
        "max_daily_quota": 9,
        "burst_cap": 4,
        "lowered_tokens": 0,
    }
    caps = server.admin("PATCH", f"/accounts/{account}/caps", {"max_burst": None})
    assert (caps["max_budget_units"], caps["burst_cap"]) == (25_000, 2)  # only max_burst changed
    for body, says in (
        ({"max_rate_limit": None, "max_burst": 3}, "a burst cap needs a rate cap"),
        ({"max_burst": "3"}, "max_burst"),
        ({"max_burts": 3}, "max_burts: unknown field"),
    ):
        answer = server.http.patch(
            f"/api/admin/accounts/{account}/caps",
            json=body,
            headers={"X-Admin-Key": server.admin_key},
        ).json()
        assert answer["code"] == 400, answer
        assert says in answer["message"]
    missing = server.http.get(
        "/api/admin/accounts/no-such-account/caps", headers={"X-Admin-Key": server.admin_key}
    ).json()
    assert missing["code"] == 404


def test_cli_sets_and_explains_the_burst_cap(server: LiveServer) -> None:
    account = make_account(server)
    runner = CliRunner()
    db = ["admin", "--db", server.db_url, "account", "caps", account]
    refused = runner.invoke(build_app(), [*db, "--max-burst", "5"])
    assert refused.exit_code == 2  # a usage error
    assert "a burst cap needs a rate cap" in refused.stderr
    done = runner.invoke(build_app(), [*db, "--max-rate", "2.5"])
    assert done.exit_code == 0, done.stderr
    assert "max burst" in done.stdout
    row = done.stdout.splitlines()
    assert any(account in line and "2.5" in line and " 3 " in line for line in row), done.stdout
    helped = runner.invoke(build_app(), ["admin", "account", "caps", "--help"])
    assert "one second's" in helped.stdout
    assert "--max-burst" in helped.stdout
