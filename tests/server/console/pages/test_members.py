"""The Members page and ``jditem admin member`` against a live server: the operator
manages every account's members and caps, an owner only its own account's, a plain
member sees none of it (404), and the one-time link is the way in."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from jditem.cli.app import build_app
from tests.server.console.conftest import ConsoleClient
from tests.server.console.member_client import (
    LINK,
    PASSWORD,
    MemberClient,
    add_member,
    make_account,
    new_member,
    post_login,
    set_password,
    unique,
)
from tests.support.backends import Backend
from tests.support.live_server import LiveServer, live_server

# once per store profile (tests/conftest.py: backend)
pytestmark = pytest.mark.usefixtures("backend")


def jditem(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_app(), list(args))
    return result.exit_code, result.stdout, result.stderr


def _member_id(live: LiveServer, email: str) -> int:
    return int(live.scalar("SELECT id FROM members WHERE email = :e", e=email))


@pytest.fixture
def owner(server: LiveServer) -> Iterator[tuple[MemberClient, str, str]]:
    """An owner of a fresh account, signed in: (client, e-mail, account)."""
    account = make_account(server)
    client, email = new_member(server, account, "owner")
    yield client, email, account
    client.close()


def test_cli_link_then_password_then_sign_in(server: LiveServer) -> None:
    """``member add`` prints a link to this server; the member sets a password through
    it, signs in, and sees its own account."""
    account = make_account(server)
    email = f"{unique('cli')}@Example.com"
    code, out, err = jditem(
        "admin", "--db", server.db_url, "member", "add", email, "--account", account,
        "--role", "owner", "--base-url", server.base_url,
    )  # fmt: skip
    assert code == 0, err
    link = out.rstrip("\n").splitlines()[-1]
    assert LINK.fullmatch(link), out
    assert link.startswith(server.base_url + "/console/set-password?key=")
    client = MemberClient(server)
    page = client.get(link[len(server.base_url) :])
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert email.lower() in page.text
    assert set_password(client.http, link).status_code == 303
    assert client.get(link[len(server.base_url) :]).status_code == 404  # used up
    client.sign_in_member(email.upper())
    members_page = client.get("/console/members")
    assert members_page.status_code == 200
    assert f"Members of {account}" in members_page.text
    code, out, _ = jditem("admin", "--db", server.db_url, "member", "list", "--json")
    assert code == 0
    assert f'"email":"{email.lower()}"' in out
    assert '"has_password":true' in out
    client.close()


def test_cli_manages_members_and_caps(server: LiveServer) -> None:
    account = make_account(server)
    email = f"{unique('cli')}@example.com"
    db = ("admin", "--db", server.db_url)
    assert jditem(*db, "member", "add", email, "--account", account)[0] == 0
    client = MemberClient(server)
    link = jditem(*db, "member", "reset", email, "--base-url", server.base_url)[1]
    link = link.rstrip().splitlines()[-1]
    assert link.startswith(server.base_url + "/console/set-password?key=")
    assert set_password(client.http, link).status_code == 303
    client.sign_in_member(email)
    code, out, _ = jditem(*db, "member", "role", email, "owner")
    assert (code, out.strip()) == (0, f"{email} is now owner of account {account!r}")
    assert client.get("/console/members").status_code == 200  # an owner now
    # a reset ends the password and the sessions at once
    assert jditem(*db, "member", "reset", email)[0] == 0
    assert client.get("/console/sessions").status_code == 303
    assert post_login(client.http, email, PASSWORD).status_code == 401
    code, out, _ = jditem(
        *db, "account", "caps", account, "--max-budget", "2.5", "--max-quota", "9"
    )
    assert code == 0
    assert "2.5000" in out
    assert server.rows(
        "SELECT member_max_budget, member_max_rate_limit, member_max_daily_quota "
        "FROM accounts WHERE name = :a",
        a=account,
    ) == [(25_000, None, 9)]
    assert jditem(*db, "member", "remove", email)[0] == 0
    assert server.scalar("SELECT count(*) FROM members WHERE email = :e", e=email) == 0
    client.close()


@pytest.mark.parametrize(
    ("args", "message", "exit_code"),
    [
        (("member", "add", "nobody", "--account", "x"), "is not an e-mail address", 2),
        (("member", "add", "a@example.com", "--account", "no-such"), "no account named", 1),
        (("member", "add", "a@example.com", "--account", "x", "--role", "boss"), "role must", 2),
        (("member", "add", "a@example.com", "--account", "x", "--base-url", "x"), "--base-url", 2),
        (("member", "reset", "zed@example.com"), "no member with e-mail", 1),
        (("member", "role", "zed@example.com", "owner"), "no member with e-mail", 1),
        (("member", "remove", "zed@example.com"), "no member with e-mail", 1),
        (("member", "list", "--account", "no-such"), "no account named", 1),
        (("account", "caps", "no-such"), "no account named", 1),
        (("account", "caps", "x", "--max-budget", "lots"), "--max-budget", 2),
        (("account", "caps", "x", "--max-rate", "0"), "rate limit must be between", 2),
    ],
)
def test_cli_errors_are_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str, exit_code: int
) -> None:
    """A value to fix is a usage error (2); what does not exist is 1 (README: exit codes)."""
    db = str(tmp_path / "cli.db")
    assert jditem("admin", "--db", db, "account", "create", "x")[0] == 0
    code, out, err = jditem("admin", "--db", db, *args)
    assert code == exit_code
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in out + err


def test_member_commands_have_help() -> None:
    for args in (
        ["admin", "member"],
        ["admin", "member", "add"],
        ["admin", "member", "list"],
        ["admin", "member", "reset"],
        ["admin", "member", "role"],
        ["admin", "member", "remove"],
        ["admin", "account", "caps"],
    ):
        code, out, _ = jditem(*args, "--help")
        assert code == 0, args
        assert "Usage" in out


def test_operator_adds_a_member_and_sees_the_link_once(
    server: LiveServer, console: ConsoleClient
) -> None:
    account = make_account(server)
    email = f"{unique('op')}@example.com"
    page = console.post("/console/members", {"email": email, "account": account, "role": "member"})
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    match = LINK.search(page.text)
    assert match
    link = match.group(1)
    assert link.startswith(server.base_url)
    again = console.get("/console/members")
    assert email in again.text
    assert link.split("key=")[1] not in again.text
    bad = console.post("/console/members", {"email": "nope", "account": account})
    assert bad.status_code == 400
    assert "is not an e-mail address" in bad.text
    duplicate = console.post("/console/members", {"email": email, "account": account})
    assert duplicate.status_code == 400
    assert "already a member" in duplicate.text


def test_operator_resets_changes_role_and_removes(
    server: LiveServer, console: ConsoleClient
) -> None:
    account = make_account(server)
    member, email = new_member(server, account)
    member_id = _member_id(server, email)
    role = console.post(f"/console/members/{member_id}/role", {"role": "owner"})
    assert role.status_code == 303
    assert member.get("/console/members").status_code == 200  # the new role applies at once
    reset = console.post(f"/console/members/{member_id}/reset")
    assert reset.status_code == 200
    assert reset.headers["cache-control"] == "no-store"
    link = LINK.search(reset.text)
    assert link
    assert member.get("/console/members").status_code == 303  # signed out by the reset
    assert set_password(member.http, link.group(1), "another fine password").status_code == 303
    member.sign_in_member(email, "another fine password")
    assert console.post(f"/console/members/{member_id}/role", {"role": "boss"}).status_code == 400
    assert console.post(f"/console/members/{member_id}/remove").status_code == 303
    assert member.get("/console/sessions").status_code == 303  # removed: signed out
    assert console.post(f"/console/members/{member_id}/remove").status_code == 404
    member.close()


def test_operator_sets_caps(server: LiveServer, console: ConsoleClient) -> None:
    account = make_account(server)
    saved = console.post(
        "/console/members/caps",
        {"account": account, "max_budget": "3", "max_rate": "1.5", "max_quota": ""},
    )
    assert saved.status_code == 303
    assert server.rows(
        "SELECT member_max_budget, member_max_rate_limit, member_max_daily_quota "
        "FROM accounts WHERE name = :a",
        a=account,
    ) == [(30_000, 1.5, None)]
    page = console.get("/console/members")
    assert 'value="3.0000"' in page.text
    bad = console.post("/console/members/caps", {"account": account, "max_quota": "many"})
    assert bad.status_code == 400
    assert "Max quota must be a whole number" in bad.text
    assert console.post("/console/members/caps", {"account": unique("none")}).status_code == 404


def test_owner_manages_only_its_own_account(
    server: LiveServer, owner: tuple[MemberClient, str, str]
) -> None:
    client, owner_email, account = owner
    other = make_account(server)
    stranger, stranger_email = new_member(server, other)
    stranger_id = _member_id(server, stranger_email)
    page = client.get("/console/members")
    assert owner_email in page.text
    assert stranger_email not in page.text
    assert other not in page.text
    # a new member always joins the owner's account, whatever the form says
    email = f"{unique('added')}@example.com"
    added = client.post("/console/members", {"email": email, "account": other, "role": "member"})
    assert added.status_code == 200
    assert added.headers["cache-control"] == "no-store"
    assert LINK.search(added.text)
    assert (
        server.scalar(
            "SELECT a.name FROM members m JOIN accounts a ON a.id = m.account_id "
            "WHERE m.email = :e",
            e=email,
        )
        == account
    )
    added_id = _member_id(server, email)
    assert client.post(f"/console/members/{added_id}/role", {"role": "owner"}).status_code == 303
    assert client.post(f"/console/members/{added_id}/reset").status_code == 200
    assert client.post(f"/console/members/{added_id}/remove").status_code == 303
    # another account's member is not found, whatever the action
    for action, data in (("reset", {}), ("role", {"role": "member"}), ("remove", {})):
        response = client.post(f"/console/members/{stranger_id}/{action}", data)
        assert response.status_code == 404, action
        assert stranger_email not in response.text
    assert stranger.get("/console/sessions").status_code == 200  # untouched
    # only the operator sets caps
    assert client.post("/console/members/caps", {"account": account}).status_code == 404
    stranger.close()


def test_the_last_owner_stays(server: LiveServer, owner: tuple[MemberClient, str, str]) -> None:
    client, email, _ = owner
    own_id = _member_id(server, email)
    demoted = client.post(f"/console/members/{own_id}/role", {"role": "member"})
    assert demoted.status_code == 400
    assert "needs an owner" in demoted.text
    removed = client.post(f"/console/members/{own_id}/remove")
    assert removed.status_code == 400
    assert "only owner" in removed.text
    assert server.scalar("SELECT role FROM members WHERE id = :i", i=own_id) == "owner"


def test_a_plain_member_gets_404_everywhere_here(server: LiveServer) -> None:
    account = make_account(server)
    client, email = new_member(server, account)
    own_id = _member_id(server, email)
    assert client.get("/console/members").status_code == 404
    for path, data in (
        ("/console/members", {"email": f"{unique('x')}@example.com", "role": "owner"}),
        (f"/console/members/{own_id}/role", {"role": "owner"}),
        (f"/console/members/{own_id}/reset", {}),
        (f"/console/members/{own_id}/remove", {}),
        ("/console/members/caps", {"account": account, "max_budget": "1"}),
    ):
        assert client.post(path, data).status_code == 404, path
    assert server.scalar("SELECT role FROM members WHERE id = :i", i=own_id) == "member"
    assert server.scalar("SELECT count(*) FROM members WHERE account_id = "
                         "(SELECT id FROM accounts WHERE name = :a)", a=account) == 1  # fmt: skip
    client.close()


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/console/members", {"email": "csrf@example.com", "account": "x"}),
        ("/console/members/1/reset", {}),
        ("/console/members/1/role", {"role": "owner"}),
        ("/console/members/1/remove", {}),
        ("/console/members/caps", {"account": "x"}),
    ],
)
def test_member_forms_are_csrf_checked(
    console: ConsoleClient, path: str, data: dict[str, str]
) -> None:
    response = console.post(path, data, csrf=False)
    assert response.status_code == 403
    assert "no CSRF token" in response.text


def test_the_password_and_link_appear_nowhere(
    caplog: pytest.LogCaptureFixture, backend: Backend
) -> None:
    """Neither the password nor the link's secret lands in the logs or the database
    files; the link's page stops showing anything once it is used."""
    caplog.set_level(logging.INFO)
    password = "a very secret passphrase 42"  # a test password
    with live_server(log_level="info") as live:
        account = make_account(live)
        email = f"{unique('s')}@example.com"
        link = add_member(live, email, account)
        secret = link.split("key=")[1]
        client = MemberClient(live)
        assert set_password(client.http, link, password).status_code == 303
        client.sign_in_member(email, password)
        with httpx.Client(base_url=live.base_url) as other:
            assert post_login(other, email, password + "!").status_code == 401
        pages = [client.get(p).text for p in ("/console/sessions", "/console/password", link)]
        client.close()
        home = live.settings.home
        live.stop()
        files = [p for p in Path(home).rglob("*") if p.is_file()]
        if backend.cluster is not None:
            backend.cluster.psql("CHECKPOINT")
            files += [p for p in backend.cluster.datadir.rglob("*") if p.is_file()]
        blobs = b"".join(p.read_bytes() for p in files)
    logs = caplog.text
    assert "key=***" in logs, "the access log should show the redacted link"
    for value in (password, secret):
        assert value.encode() not in blobs
        assert value not in logs
        assert not any(value in page for page in pages)
