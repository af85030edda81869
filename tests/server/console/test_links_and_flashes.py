"""Set-password links and flashes (issue 16 items 12 and 13): a link works once however
many submit it at the same moment; a password change rotates the session; links are
built from the configured public URL, never from a request's Host header; a page shows
only messages the server wrote."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from urllib.parse import quote

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
    unique,
)
from tests.support.backends import Backend
from tests.support.live_server import LiveServer, live_server

pytestmark = pytest.mark.usefixtures("backend")

_LOGIN = re.compile(r'name="login_token" value="([^"]+)"')
_FLASH = re.compile(r'<p class="flash" role="status">(.*?)</p>', re.S)


async def _submit_together(base_url: str, path: str, passwords: list[str]) -> list[int]:
    """Each password from its own browser (own cookies and form token), all at once."""
    key = path.split("key=", 1)[1]
    clients = [httpx.AsyncClient(base_url=base_url, timeout=60.0) for _ in passwords]
    try:
        tokens = []
        for client in clients:
            page = await client.get(path)
            match = _LOGIN.search(page.text)
            assert match, page.text
            tokens.append(match.group(1))
        answers = await asyncio.gather(
            *(
                client.post(
                    "/console/set-password",
                    data={"login_token": token, "key": key, "password": pw, "again": pw},
                )
                for client, token, pw in zip(clients, tokens, passwords, strict=True)
            )
        )
    finally:
        for client in clients:
            await client.aclose()
    return [answer.status_code for answer in answers]


def test_a_link_works_once_under_concurrency(server: LiveServer) -> None:
    account = make_account(server)
    email = f"{unique('race')}@example.com"
    link = add_member(server, email, account)
    passwords = [f"concurrent password number {n}" for n in range(6)]
    statuses = asyncio.run(_submit_together(server.base_url, link, passwords))
    assert statuses.count(303) == 1, statuses
    assert all(status in (303, 404) for status in statuses), statuses
    winner = statuses.index(303)
    loser = (winner + 1) % len(passwords)
    with httpx.Client(base_url=server.base_url) as http:  # (few tries: sign-in is throttled)
        assert post_login(http, email, passwords[loser]).status_code == 401
        assert post_login(http, email, passwords[winner]).status_code == 303


def test_a_password_change_rotates_the_session(server: LiveServer) -> None:
    account = make_account(server)
    here, email = new_member(server, account)
    elsewhere = MemberClient(server)
    elsewhere.sign_in_member(email)
    before = here.http.cookies.get("jditem_console")
    assert before
    new = "a different and long password"
    done = here.post("/console/password", {"current": PASSWORD, "password": new, "again": new})
    assert done.status_code == 303, done.text
    after = here.http.cookies.get("jditem_console")
    assert after
    assert after != before  # a new session id, in a new cookie
    page = here.get(done.headers["location"])
    assert page.status_code == 200
    assert "Password changed" in page.text
    assert page.text.count('class="current"') <= 1
    # the session the change was made from is over, like every other one
    with httpx.Client(base_url=server.base_url, cookies={"jditem_console": before}) as old:
        assert old.get("/console/sessions").status_code == 303
    assert elsewhere.get("/console/sessions").status_code == 303
    assert (
        server.scalar(
            "SELECT count(*) FROM console_sessions s JOIN members m ON m.id = s.member_id "
            "WHERE m.email = :e",
            e=email,
        )
        == 1
    )
    here.close()
    elsewhere.close()


def test_console_links_ignore_the_host_header(server: LiveServer, console: ConsoleClient) -> None:
    """An operator's reset with ``Host: evil.example`` printed an evil link."""
    account = make_account(server)
    member, email = new_member(server, account)
    member_id = server.scalar("SELECT id FROM members WHERE email = :e", e=email)
    reset = console.post(f"/console/members/{member_id}/reset", headers={"Host": "evil.example"})
    assert reset.status_code == 200, reset.text
    link = LINK.search(reset.text)
    assert link, reset.text
    assert "evil.example" not in reset.text
    assert link.group(1).startswith(server.base_url + "/console/set-password?key=")
    assert 'id="link-base-note"' in reset.text  # says what the link was built from
    assert "JDITEM_PUBLIC_URL is not set" in reset.text
    member.close()


@pytest.fixture(scope="module")
def public(backend: Backend) -> Iterator[LiveServer]:
    with backend.database(), live_server(public_url="https://jd.example.com/team/") as live:
        yield live


def test_console_links_use_the_public_url(public: LiveServer) -> None:
    console = ConsoleClient(public)
    console.sign_in()
    account = make_account(public)
    email = f"{unique('pub')}@example.com"
    page = console.post(
        "/console/members",
        {"email": email, "account": account, "role": "member"},
        headers={"Host": "evil.example"},
    )
    assert page.status_code == 200
    link = LINK.search(page.text)
    assert link
    assert link.group(1).startswith("https://jd.example.com/team/console/set-password?key=")
    assert 'id="link-base-note"' not in page.text
    console.close()


def _member_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_app(), list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_cli_links_use_the_public_url_or_say_they_cannot(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``member add`` printed a link to port 8000 whatever server the database is of."""
    monkeypatch.delenv("JDITEM_PUBLIC_URL", raising=False)
    account = make_account(server)
    db = ("admin", "--db", server.db_url, "member")
    email = f"{unique('cli')}@example.com"
    code, out, err = _member_cli(*db, "add", email, "--account", account)
    assert code == 0, err
    link = out.rstrip("\n").splitlines()[-1]
    assert link.startswith("<console-address>/console/set-password?key=")
    assert ":8000" not in out + err
    assert "JDITEM_PUBLIC_URL is not set" in err
    code, out, err = _member_cli(
        *db, "reset", email, env={"JDITEM_PUBLIC_URL": "https://jd.example.com"}
    )
    assert code == 0, err
    assert (
        out.rstrip("\n")
        .splitlines()[-1]
        .startswith("https://jd.example.com/console/set-password?key=")
    )
    assert "hint" not in err
    code, out, _ = _member_cli(
        *db, "reset", email, "--base-url", server.base_url + "/",
        env={"JDITEM_PUBLIC_URL": "https://jd.example.com"},
    )  # fmt: skip
    assert code == 0
    assert out.rstrip("\n").splitlines()[-1].startswith(server.base_url + "/console/set-")
    code, _, err = _member_cli(*db, "reset", email, "--base-url", "http://x?y=1")
    assert code == 2  # a usage error
    assert "--base-url" in err


@pytest.mark.parametrize(
    "path", ["/console/login", "/console/set-password?key=x", "/console/tokens"]
)
def test_flashes_in_a_link_are_not_shown(
    server: LiveServer, console: ConsoleClient, path: str
) -> None:
    """``/console/login?flash=…`` showed any text on the real sign-in page."""
    bait = "Your account is locked. Call +1 555 0100 to unlock it"
    joined = "&" if "?" in path else "?"
    page = console.get(f"{path}{joined}flash={quote(bait)}")
    assert bait not in page.text
    assert not _FLASH.search(page.text)


def test_the_servers_own_flashes_are_shown(server: LiveServer) -> None:
    account = make_account(server)
    email = f"{unique('flash')}@example.com"
    link = add_member(server, email, account)
    client = MemberClient(server)
    page = client.get(link)
    match = _LOGIN.search(page.text)
    assert match
    done = client.http.post(
        "/console/set-password",
        data={
            "login_token": match.group(1),
            "key": link.split("key=", 1)[1],
            "password": PASSWORD,
            "again": PASSWORD,
        },
    )
    assert done.status_code == 303
    assert "Your+password+is+set" not in done.headers["location"]  # signed, not plain
    shown = client.get(done.headers["location"])
    flash = _FLASH.search(shown.text)
    assert flash
    assert "Your password is set" in flash.group(1)
    # a flash signed by the server cannot be edited into another message
    tampered = done.headers["location"].replace("flash=", "flash=x")
    assert not _FLASH.search(client.get(tampered).text)
    client.close()
