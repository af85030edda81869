"""Strict input on the admin API and the forms and commands that create the same objects
(issue 16 item 15): one name rule for accounts, tokens and members' e-mails, bounded
permission lists, unknown fields refused, amounts and numbers taken as typed — and
accounts named before the rule stay reachable."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from jditem.cli.app import build_app
from jditem.server.accounts import members
from jditem.server.accounts.service import InvalidInputError
from jditem.server.context import ServerContext
from tests.server.console.conftest import ConsoleClient
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.usefixtures("backend")

BAD_NAMES = {
    "slash": "team/a",
    "bidi override": "invoice\u202egpj.exe",
    "bidi isolate": "a\u2066b",
    "line separator": "a\u2028b",
    "paragraph separator": "a\u2029b",
    "zero width": "a\u200bb",
    "control": "a\x07b",
    "newline": "a\nb",
    "too long": "x" * 101,
}


def _account(live: LiveServer, name: str) -> None:
    """Create account ``name`` unless it exists."""
    if not live.scalar("SELECT count(*) FROM accounts WHERE name = :n", n=name):
        live.admin("POST", "/accounts", {"name": name})


def _admin(live: LiveServer, method: str, path: str, body: Any) -> dict[str, Any]:
    response = live.http.request(
        method, "/api/admin" + path, json=body, headers={"X-Admin-Key": live.admin_key}
    )
    answer: dict[str, Any] = response.json()
    assert (response.status_code == 400) is (answer["code"] == 400), answer
    return answer


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=list(BAD_NAMES))
def test_bad_names_are_refused_everywhere(server: LiveServer, name: str) -> None:
    account = _admin(server, "POST", "/accounts", {"name": name})
    assert account["code"] == 400, account
    assert "account name must" in account["message"]
    _account(server, "names-ok")
    token = _admin(server, "POST", "/tokens", {"account": "names-ok", "name": name})
    assert token["code"] == 400, token
    assert "token name must" in token["message"] or "at most 100" in token["message"]
    runner = CliRunner()
    cli = runner.invoke(build_app(), ["admin", "--db", server.db_url, "account", "create", name])
    assert cli.exit_code == 2  # a usage error
    assert "account name must" in cli.stderr
    assert server.scalar("SELECT count(*) FROM accounts WHERE name = :n", n=name.strip()) == 0


def test_the_console_forms_use_the_same_rule(server: LiveServer, console: ConsoleClient) -> None:
    created = console.post("/console/balance/accounts", {"name": "a\u202eb", "balance": "1"})
    assert created.status_code == 400
    assert "account name must not contain U+202E" in created.text
    _account(server, "forms-ok")
    token = console.post(
        "/console/tokens", {"account": "forms-ok", "name": "t/1", "permissions": "*"}
    )
    assert token.status_code == 400
    assert "token name must not contain &#39;/&#39;" in token.text


@pytest.mark.parametrize(
    "email", ["a\u202e@example.com", "a\u2028b@example.com", "\u200bz@example.com"]
)
def test_member_emails_follow_the_rule(server: LiveServer, email: str) -> None:
    _account(server, "mail-ok")

    async def add(ctx: ServerContext) -> str:
        async with ctx.sessionmaker() as session:
            try:
                await members.add_member(session, email, "mail-ok")
            except InvalidInputError as exc:
                return str(exc)
        return "accepted"

    assert "is not an e-mail address" in server.run(add)


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("/accounts", {"name": "u1", "balanse_yuan": "5"}, "balanse_yuan: unknown field"),
        ("/accounts", {"name": "u2", "balance_yuan": " 1"}, "spaces around it"),
        ("/accounts", {"name": "u3", "balance_units": "5"}, "balance_units"),
        ("/accounts", {"name": "u4", "balance_units": True}, "balance_units"),
        ("/accounts", {"name": 5}, "name"),
        ("/tokens", {"account": "strict-ok", "rate_limit": "2"}, "rate_limit"),
        ("/tokens", {"account": "strict-ok", "burst": 2.0}, "burst"),
        ("/tokens", {"account": "strict-ok", "budget_yuan": "1 "}, "spaces around it"),
        ("/tokens", {"account": "strict-ok", "permission": ["*"]}, "permission: unknown field"),
        ("/tokens", {"account": "strict-ok", "permissions": ["*"] * 100_000}, "at most 50"),
        ("/tokens", {"account": "strict-ok", "permissions": ["jd v2"]}, "not an endpoint name"),
        ("/accounts/strict-ok/topup", {"amount_yuan": "\t1"}, "spaces around it"),
        ("/accounts/strict-ok/topup", {"amount_yuan": "1", "nope": 1}, "nope: unknown field"),
        ("/accounts/strict-ok/topup", {"amount_yuan": "1", "note": "x\u202e"}, "U+202E"),
    ],
)
def test_admin_bodies_are_strict(
    server: LiveServer, path: str, body: dict[str, Any], says: str
) -> None:
    _account(server, "strict-ok")
    answer = _admin(server, "POST", path, body)
    assert answer["code"] == 400, answer
    assert says in answer["message"], answer["message"]
    assert server.scalar("SELECT balance FROM accounts WHERE name = 'strict-ok'") == 0


def test_token_updates_are_strict(server: LiveServer) -> None:
    token = server.make_token("patch-ok")
    prefix = token[:10]
    for body, says in (
        ({"rate": 5}, "rate: unknown field"),
        ({"name": "a\u2029b"}, "token name must not contain U+2029"),
        ({"permissions": None}, "permissions cannot be cleared"),
        ({"daily_quota": "10"}, "daily_quota"),
    ):
        answer = _admin(server, "PATCH", f"/tokens/{prefix}", body)
        assert answer["code"] == 400, answer
        assert says in answer["message"], answer["message"]


def test_accounts_named_before_the_rule_stay_reachable(server: LiveServer) -> None:
    """Rows an older version accepted: lookups are exact (never re-validated), and the
    CLI renames even a name with '/' that no API path can address."""
    server.execute(
        "INSERT INTO accounts (name, balance, created_at) VALUES "
        "('old/slash', 0, CURRENT_TIMESTAMP), ('old\u202ebidi', 0, CURRENT_TIMESTAMP)"
    )
    bidi = "/accounts/" + quote("old\u202ebidi")
    assert server.admin("GET", bidi)["name"] == "old\u202ebidi"
    server.admin("POST", bidi + "/topup", {"amount_yuan": "1"})
    server.admin("POST", "/tokens", {"account": "old/slash", "name": "still works"})
    runner = CliRunner()
    db = ["admin", "--db", server.db_url]
    topped = runner.invoke(build_app(), [*db, "balance", "topup", "old/slash", "2"])
    assert topped.exit_code == 0, topped.stderr
    bad = runner.invoke(build_app(), [*db, "account", "rename", "old/slash", "new/slash"])
    assert bad.exit_code == 2
    assert "must not contain '/'" in bad.stderr
    renamed = runner.invoke(build_app(), [*db, "account", "rename", "old/slash", "old-slash"])
    assert renamed.exit_code == 0, renamed.stderr
    assert server.admin("GET", "/accounts/old-slash")["balance_units"] == 20_000
    fixed = server.admin("PATCH", bidi, {"name": "old-bidi"})
    assert fixed["name"] == "old-bidi"
