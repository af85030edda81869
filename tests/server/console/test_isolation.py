"""Account isolation in the console (SPEC §2.9), generated from the route table.

Two accounts, A and B, each with tokens, real API calls, tasks, a finished bulk job and
members, on a live server. Signed in as a member of B, every console route is requested:
a route with path parameters gets A's object ids (GET, and POST with a valid CSRF
token) and must answer 404 without a trace of A; a route without parameters has an
explicit case in :data:`PLAIN_ROUTES`. The cases are generated from the console's
routers (:data:`jditem.server.console.PAGES`, what ``mount`` includes), so a new
console route without a case fails :func:`test_every_console_route_as_a_member_of_b`
— add its case here.
"""

from __future__ import annotations

import html
import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.routing import APIRoute

from jditem.protocol import Product
from jditem.server.accounts.caps import MemberCaps, set_member_caps
from jditem.server.console.mount import PAGES, PREFIX
from jditem.server.console.pages.jobs import item_summary
from jditem.server.context import ServerContext
from jditem.server.monitor import endpoints
from jditem.server.monitor.sealing import SecretBox
from jditem.server.store.tables import BulkJobItem, CallRecord, Task
from tests.server.console.conftest import ConsoleClient
from tests.server.console.member_client import MemberClient, add_member, set_password
from tests.support.backends import Backend
from tests.support.live_server import LiveServer, live_server
from tests.support.waiting import wait_until

# once per store profile (tests/conftest.py: backend)
pytestmark = pytest.mark.usefixtures("backend")

TIMEOUT = 60.0
_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


# ------------------------------------------------------------------ the route table


def console_routes() -> list[tuple[str, str]]:
    """(method, path) of every console route, from the routers :func:`mount` includes."""
    found = set()
    for module in PAGES:
        for route in module.router.routes:
            assert isinstance(route, APIRoute), route
            for method in route.methods - {"HEAD", "OPTIONS"}:
                found.add((method, PREFIX + route.path))
    return sorted(found)


# ------------------------------------------------------------------ the two accounts


@dataclass
class Side:
    """One account's data and the markers that must never leak to the other account."""

    account: str
    account_id: int = 0
    token: str = ""
    token_id: int = 0
    token_prefix: str = ""
    token_name: str = ""
    api_items: list[str] = field(default_factory=list)
    job_items: list[str] = field(default_factory=list)
    job_id: str = ""
    task_ids: list[str] = field(default_factory=list)
    failed_item: str = ""
    failed_task: str = ""
    owner_email: str = ""
    owner_id: int = 0
    owner_session: str = ""
    watch_list: str = ""
    watch_list_id: int = 0
    webhook_url: str = ""
    webhook_id: int = 0
    webhook_delivery_id: int = 0

    def markers(self) -> list[str]:
        """Strings that identify this account's data on a page."""
        return [
            self.account,
            self.token_prefix,
            self.token_name,
            self.job_id,
            self.owner_email,
            self.owner_session,
            *self.api_items,
            *self.job_items,
            *self.task_ids,
            self.failed_item,
            self.failed_task,
            self.watch_list,
            self.webhook_url,
        ]


@dataclass
class World:
    """Both accounts, the operator and B's signed-in members."""

    live: LiveServer
    a: Side
    b: Side
    operator: ConsoleClient
    b_owner: MemberClient
    b_member: MemberClient
    b_other: MemberClient
    b_member_email: str
    b_other_email: str
    a_owner: MemberClient

    def new_b_member_client(self) -> MemberClient:
        client = MemberClient(self.live)
        client.sign_in_member(self.b_member_email)
        return client

    def snapshot_a(self) -> list[Any]:
        """A's rows a request of B must never change."""
        live, a = self.live, self.a
        return [
            live.rows("SELECT * FROM accounts WHERE id = :i", i=a.account_id),
            live.rows("SELECT * FROM tokens WHERE account_id = :i ORDER BY id", i=a.account_id),
            live.rows("SELECT * FROM members WHERE account_id = :i ORDER BY id", i=a.account_id),
            live.rows(
                "SELECT id, status, total, stop_reason FROM bulk_jobs WHERE id = :j", j=a.job_id
            ),
            live.rows(
                "SELECT sid_hash, member_id FROM console_sessions WHERE member_id = :m",
                m=a.owner_id,
            ),
            live.rows("SELECT count(*) FROM ledger WHERE account_id = :i", i=a.account_id),
            live.rows("SELECT * FROM watch_lists WHERE account_id = :i", i=a.account_id),
            live.rows(
                "SELECT list_id, item_id, active FROM watch_items WHERE account_id = :i "
                "ORDER BY id",
                i=a.account_id,
            ),
            live.rows(
                "SELECT id, url, secret_sealed, enabled FROM webhook_endpoints "
                "WHERE account_id = :i ORDER BY id",
                i=a.account_id,
            ),
            live.rows("SELECT * FROM webhook_deliveries WHERE account_id = :i", i=a.account_id),
        ]


def _call_until_ready(live: LiveServer, token: str, item_id: str) -> None:
    def ready() -> bool:
        body = live.get(item_id, token).json()
        assert body["code"] in (0, 102), body
        return bool(body["code"] == 0)

    wait_until(ready, what=f"item {item_id} ready", timeout=TIMEOUT, interval=0.1)


def _start_job(client: ConsoleClient, token_id: int, items: list[str]) -> str:
    response = client.post(
        "/console/jobs", {"token": str(token_id), "items": "\n".join(items), "name": "iso"}
    )
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/console/jobs/(j_\w+)", response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)


def _wait_job(client: ConsoleClient, job_id: str) -> None:
    def finished() -> dict[str, Any] | None:
        progress: dict[str, Any] = client.get(f"/console/jobs/{job_id}/progress.json").json()
        return progress if progress["finished"] else None

    progress = wait_until(finished, what=f"job {job_id} finished", timeout=TIMEOUT, interval=0.1)
    assert progress["status"] == "done", progress


def _member(live: LiveServer, email: str, account: str, role: str) -> tuple[int, MemberClient]:
    link = add_member(live, email, account, role)
    client = MemberClient(live)
    assert set_password(client.http, link).status_code == 303  # the link page, like a person
    client.sign_in_member(email)
    return int(live.scalar("SELECT id FROM members WHERE email = :e", e=email)), client


def _side(live: LiveServer, operator: ConsoleClient, tag: str, base: int) -> Side:
    suffix = secrets.token_hex(4)
    side = Side(account=f"acct-{tag}-{suffix}", token_name=f"tok-{tag}-{suffix}")
    side.token = live.make_token(side.account, balance_yuan="10", name=side.token_name)
    side.account_id = int(live.scalar("SELECT id FROM accounts WHERE name = :n", n=side.account))
    side.token_id, side.token_prefix = live.rows(
        "SELECT id, prefix FROM tokens WHERE name = :n", n=side.token_name
    )[0]
    side.api_items = [str(base + 1), str(base + 2)]
    side.job_items = [str(base + 11), str(base + 12), str(base + 13)]
    for item in side.api_items:
        _call_until_ready(live, side.token, item)
    side.job_id = _start_job(operator, side.token_id, side.job_items)
    _wait_job(operator, side.job_id)
    side.task_ids = [
        row[0]
        for row in live.rows(
            "SELECT DISTINCT task_id FROM call_records WHERE account_id = :a "
            "AND task_id IS NOT NULL",
            a=side.account_id,
        )
    ]
    assert side.task_ids
    side.failed_item, side.failed_task = str(base + 99), f"t_failed_{tag}_{suffix}"
    _add_failure(live, side)
    _add_watch_list(live, side, tag, suffix)
    _add_webhook(live, side, tag, suffix)
    return side


def _add_watch_list(live: LiveServer, side: Side, tag: str, suffix: str) -> None:
    """A watch list of the account's API items, paused before it holds any (so no check
    changes the account's data while the tests run)."""
    side.watch_list = f"watch-{tag}-{suffix}"
    base = "/api/watch/lists"
    for method, path, body in (
        ("POST", base, {"name": side.watch_list, "intervalSeconds": 3600, "dailyBudget": "1"}),
        ("PATCH", f"{base}/{side.watch_list}", {"paused": True}),
        ("POST", f"{base}/{side.watch_list}/items", {"items": side.api_items}),
    ):
        response = live.http.request(
            method, path, json=body, headers={"Authorization": f"Bearer {side.token}"}
        )
        assert response.json()["code"] == 0, response.text
    side.watch_list_id = int(
        live.scalar("SELECT id FROM watch_lists WHERE name = :n", n=side.watch_list)
    )


def _add_webhook(live: LiveServer, side: Side, tag: str, suffix: str) -> None:
    """A webhook endpoint (made as the API makes one) with a failed delivery (which no
    dispatcher picks up, so the account's data stays as it is)."""
    side.webhook_url = f"https://hooks-{tag}-{suffix}.example/in"

    async def create(ctx: ServerContext) -> int:
        async with ctx.db.writing() as session:
            row, _secret = await endpoints.create(
                session,
                SecretBox.from_settings(ctx.settings),
                account_id=side.account_id,
                url=side.webhook_url,
                lists=[],
                kinds=[],
                description="",
                now=ctx.clock(),
            )
            return row.id

    side.webhook_id = live.run(create)
    live.execute(
        "INSERT INTO webhook_deliveries (endpoint_id, account_id, event_id, event_type, body,"
        " status, attempts, next_attempt_at, created_at) SELECT id, account_id, :e,"
        " 'webhook.test', '{}', 'failed', 1, created_at, created_at FROM webhook_endpoints"
        " WHERE id = :i",
        e=f"evt_{tag}_{suffix}",
        i=side.webhook_id,
    )
    side.webhook_delivery_id = int(
        live.scalar("SELECT id FROM webhook_deliveries WHERE endpoint_id = :i", i=side.webhook_id)
    )


def _add_failure(live: LiveServer, side: Side) -> None:
    """A failed call (500) and its failed task, as the worker records them, so the
    overview's "recent failures" has something of each account to hide."""

    async def add(ctx: ServerContext) -> None:
        now = datetime.now(UTC)
        async with ctx.sessionmaker() as db:
            db.add(
                Task(
                    id=side.failed_task,
                    item_id=side.failed_item,
                    status="failed",
                    attempt=3,
                    max_attempts=3,
                    submitted_at=now,
                    finished_at=now,
                    error="collector failed",
                )
            )
            db.add(
                CallRecord(
                    request_id=f"r_{side.failed_task}",
                    token_id=side.token_id,
                    account_id=side.account_id,
                    endpoint="jd/get-item-detail/v2",
                    item_id=side.failed_item,
                    code=500,
                    charged=0,
                    task_id=side.failed_task,
                    latency_ms=5,
                    created_at=now,
                )
            )
            await db.commit()

    live.run(add)


@pytest.fixture(scope="module")
def server(backend: Backend) -> Iterator[LiveServer]:
    """The console fixtures' server, allowing loopback webhook URLs (members add endpoints
    at a closed loopback port: nothing answers their few deliveries)."""
    with backend.database(), live_server(webhook_allow_networks=["127.0.0.0/8"]) as live:
        yield live


@pytest.fixture(scope="module")
def world(server: LiveServer) -> Iterator[World]:
    """Two accounts with data, the operator, B's owner and two plain members, A's owner."""
    operator = ConsoleClient(server)
    operator.sign_in()
    a = _side(server, operator, "alpha", 71_000_000)
    b = _side(server, operator, "beta", 72_000_000)
    a.owner_email = f"owner-{secrets.token_hex(4)}@alpha.example"
    a.owner_id, a_owner = _member(server, a.owner_email, a.account, "owner")
    a.owner_session = str(
        server.scalar("SELECT public_id FROM console_sessions WHERE member_id = :m", m=a.owner_id)
    )
    b.owner_email = f"owner-{secrets.token_hex(4)}@beta.example"
    b.owner_id, b_owner = _member(server, b.owner_email, b.account, "owner")
    member_email = f"member-{secrets.token_hex(4)}@beta.example"
    other_email = f"other-{secrets.token_hex(4)}@beta.example"
    _id, b_member = _member(server, member_email, b.account, "member")
    _id, b_other = _member(server, other_email, b.account, "member")
    world = World(
        server, a, b, operator, b_owner, b_member, b_other, member_email, other_email, a_owner
    )
    yield world
    for client in (operator, a_owner, b_owner, b_member, b_other):
        client.close()


def assert_no_trace(text: str, side: Side, where: str) -> None:
    """No marker of ``side`` in ``text``, except what the request itself named (``where``:
    a page may repeat the id or filter it was asked for)."""
    leaked = [m for m in side.markers() if m and m in text and m not in where]
    assert not leaked, f"{where} shows account A's data: {leaked}"


# ------------------------------------------------------------------ cases per route

#: Path parameter name → which of A's objects fills it.
OBJECTS: dict[str, Callable[[Side], str]] = {
    "token_id": lambda a: str(a.token_id),
    "job_id": lambda a: a.job_id,
    "task_id": lambda a: a.task_ids[0],
    "member_id": lambda a: str(a.owner_id),
    "public_id": lambda a: a.owner_session,
    "session_id": lambda a: a.owner_session,
    "list_id": lambda a: str(a.watch_list_id),
    "item_id": lambda a: a.api_items[0],
    "endpoint_id": lambda a: str(a.webhook_id),
    "delivery_id": lambda a: str(a.webhook_delivery_id),
}


def _list_page(*queries: Callable[[Side], str]) -> Callable[[World, str], None]:
    """A page or download: 200 without A's data, also when its filters name A's objects."""

    def check(world: World, path: str) -> None:
        client = world.b_member
        for query in ("", *(q(world.a) for q in queries)):
            url = f"{path}?{query}" if query else path
            response = client.get(url)
            assert response.status_code in (200, 400), (url, response.status_code)
            assert_no_trace(response.text, world.a, url)

    return check


def _not_found(world: World, path: str) -> None:
    response = world.b_member.get(path)
    assert response.status_code == 404, (path, response.status_code)
    assert_no_trace(response.text, world.a, path)


def _redirect(world: World, path: str) -> None:
    response = world.b_member.get(path)
    assert response.status_code in (307, 308), response.status_code
    assert response.headers["location"] == "/console"


def _sign_in_page(world: World, path: str) -> None:
    """The sign-in and set-password pages show no account data to anyone."""
    response = world.b_member.get(path)
    assert response.status_code in (200, 404), response.status_code
    assert_no_trace(response.text, world.a, path)


def _sign_in_post(world: World, path: str) -> None:
    """Sign-in forms without their one-time token are refused, showing nothing of A."""
    response = world.b_member.post(path, {"email": world.a.owner_email, "key": "x"})
    assert response.status_code in (400, 403, 404), response.status_code
    assert world.a.account not in response.text


def _logout(world: World, path: str) -> None:
    """Signing out ends this session only."""
    client = world.new_b_member_client()
    try:
        assert client.post(path).status_code == 303
        assert client.get("/console").status_code == 303  # back to the sign-in page
    finally:
        client.close()
    assert world.b_member.get("/console").status_code == 200


def _topup(world: World, path: str) -> None:
    response = world.b_member.post(path, {"account": world.a.account, "amount": "1"})
    assert response.status_code == 404
    assert_no_trace(response.text, world.a, path)


def _create_account(world: World, path: str) -> None:
    name = f"made-by-member-{secrets.token_hex(3)}"
    response = world.b_member.post(path, {"name": name, "opening": "0"})
    assert response.status_code == 404
    assert world.live.scalar("SELECT count(*) FROM accounts WHERE name = :n", n=name) == 0


def _create_token(world: World, path: str) -> None:
    """A member's new token belongs to its own account, whatever ``account`` says."""
    name = f"by-b-{secrets.token_hex(3)}"
    response = world.b_member.post(
        path, {"account": world.a.account, "name": name, "permissions": "jd/get-item-detail/v2"}
    )
    assert response.status_code == 200, response.text
    assert 'id="new-token"' in response.text
    assert_no_trace(response.text, world.a, path)
    account_id = world.live.scalar("SELECT account_id FROM tokens WHERE name = :n", n=name)
    assert account_id == world.b.account_id


def _error(page: str) -> str:
    match = re.search(r'<p class="error" role="alert">(.*?)</p>', page, re.S)
    assert match, page
    return match.group(1)


def _create_job(world: World, path: str) -> None:
    """A's token id answers exactly like a token id that does not exist."""
    jobs_before = world.live.scalar("SELECT count(*) FROM bulk_jobs")
    foreign = world.b_member.post(path, {"token": str(world.a.token_id), "items": "73000001"})
    missing_id = "999999"
    missing = world.b_member.post(path, {"token": missing_id, "items": "73000001"})
    huge = world.b_member.post(path, {"token": "9" * 12, "items": "73000001"})
    assert foreign.status_code == missing.status_code == huge.status_code == 400
    assert_no_trace(foreign.text, world.a, path)
    assert _error(foreign.text).replace(str(world.a.token_id), missing_id) == _error(missing.text)
    assert len(foreign.text) - len(missing.text) == len(str(world.a.token_id)) - len(missing_id)
    assert world.live.scalar("SELECT count(*) FROM bulk_jobs") == jobs_before


def _member_adds_webhooks_to_its_own_account(world: World, path: str) -> None:
    """A member's new endpoint belongs to its own account (and is recorded as its own),
    whatever ``account`` says; A unchanged."""
    before = world.snapshot_a()
    url = f"https://127.0.0.1:9/by-b-{secrets.token_hex(3)}"
    response = world.b_member.post(path, {"url": url, "account": world.a.account})
    assert response.status_code == 200, response.text
    assert 'id="new-secret"' in response.text
    assert_no_trace(response.text, world.a, path)
    assert world.snapshot_a() == before
    [(account_id, creator)] = world.live.rows(
        "SELECT account_id, created_by_member_id FROM webhook_endpoints WHERE url = :u", u=url
    )
    assert account_id == world.b.account_id
    assert creator == world.live.scalar(
        "SELECT id FROM members WHERE email = :e", e=world.b_member_email
    )


def _page_or_404(world: World, path: str) -> None:
    """A page a plain member may or may not have: either way nothing of A."""
    response = world.b_member.get(path)
    assert response.status_code in (200, 404), (path, response.status_code)
    assert_no_trace(response.text, world.a, path)


def _throwaway_b_member(world: World) -> MemberClient:
    """A new plain member of B, signed in (for forms that end its own sessions)."""
    email = f"temp-{secrets.token_hex(4)}@beta.example"
    _id, client = _member(world.live, email, world.b.account, "member")
    return client


def _own_form(data: dict[str, str], statuses: tuple[int, ...]) -> Callable[[World, str], None]:
    """A form acting on the member itself (its sessions, its password): A unchanged, and
    A's owner still signed in."""

    def check(world: World, path: str) -> None:
        before = world.snapshot_a()
        client = _throwaway_b_member(world)
        try:
            response = client.post(path, data)
        finally:
            client.close()
        assert response.status_code in statuses, (path, response.status_code)
        assert_no_trace(response.text, world.a, path)
        assert world.snapshot_a() == before
        assert world.a_owner.get("/console").status_code == 200

    return check


def _refused_form(data: Callable[[Side], dict[str, str]]) -> Callable[[World, str], None]:
    """A form for operators (or owners) only: 404 for a plain member of B; A unchanged."""

    def check(world: World, path: str) -> None:
        before = world.snapshot_a()
        response = world.b_member.post(path, data(world.a))
        assert response.status_code == 404, (path, response.status_code)
        assert_no_trace(response.text, world.a, path)
        assert world.snapshot_a() == before

    return check


#: Every console route without path parameters, and what a member of B must get.
PLAIN_ROUTES: dict[tuple[str, str], Callable[[World, str], None]] = {
    ("GET", "/console"): _list_page(),
    ("GET", "/console/"): _redirect,
    ("GET", "/console/login"): _sign_in_page,
    ("POST", "/console/login"): _sign_in_post,
    ("GET", "/console/set-password"): _sign_in_page,
    ("POST", "/console/set-password"): _sign_in_post,
    ("POST", "/console/logout"): _logout,
    ("GET", "/console/tokens"): _list_page(),
    ("POST", "/console/tokens"): _create_token,
    ("GET", "/console/balance"): _list_page(lambda a: f"account={a.account}"),
    ("POST", "/console/balance/topup"): _topup,
    ("POST", "/console/balance/accounts"): _create_account,
    ("GET", "/console/calls"): _list_page(
        lambda a: f"token={a.token_id}", lambda a: f"item={a.api_items[0]}"
    ),
    ("GET", "/console/calls.csv"): _list_page(
        lambda a: f"token={a.token_id}", lambda a: f"item={a.api_items[0]}"
    ),
    ("GET", "/console/trends"): _list_page(lambda _a: "range=7d"),
    ("GET", "/console/spending"): _list_page(lambda _a: "range=7d"),
    ("GET", "/console/tasks"): _list_page(
        lambda a: f"item={a.api_items[0]}", lambda a: f"job={a.job_id}"
    ),
    ("GET", "/console/jobs"): _list_page(),
    ("POST", "/console/jobs"): _create_job,
    ("GET", "/console/upstream"): _not_found,
    ("GET", "/console/watch"): _list_page(),
    ("GET", "/console/webhooks"): _list_page(),
    ("POST", "/console/webhooks"): _member_adds_webhooks_to_its_own_account,
    # account members and sessions (issue 12, part M1)
    ("GET", "/console/members"): _page_or_404,
    ("POST", "/console/members"): _refused_form(
        lambda a: {"email": f"x-{secrets.token_hex(3)}@alpha.example", "account": a.account}
    ),
    ("POST", "/console/members/caps"): _refused_form(
        lambda a: {"account": a.account, "max_budget": "1"}
    ),
    ("GET", "/console/sessions"): _list_page(),
    ("POST", "/console/sessions/others"): _own_form({}, (303,)),
    ("POST", "/console/sessions/all"): _own_form({}, (303,)),
    ("GET", "/console/password"): _list_page(),
    ("POST", "/console/password"): _own_form(
        {"current": "not the password", "password": "x" * 20, "again": "x" * 20}, (400,)
    ),
}


def _by_id(world: World, method: str, path: str) -> None:
    """A's object by id, for a plain member and for an owner of B: 404 for GET and for
    POST with a valid CSRF token; A unchanged."""
    names = _PARAM.findall(path)
    unknown = [name for name in names if name not in OBJECTS]
    assert not unknown, (
        f"{method} {path}: no A object for path parameter(s) {unknown}; add them to OBJECTS"
    )
    url = _PARAM.sub(lambda m: OBJECTS[m.group(1)](world.a), path)
    before = world.snapshot_a()
    for client in (world.b_member, world.b_owner):
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, {"enabled": "0", "name": "hijacked", "role": "member"})
        status = response.status_code
        assert status == 404, (method, url, status, response.text[:300])
        assert_no_trace(response.text, world.a, f"{method} {url}")
        assert world.snapshot_a() == before, f"{method} {url} changed account A's data"


@pytest.mark.parametrize(("method", "path"), console_routes())
def test_every_console_route_as_a_member_of_b(world: World, method: str, path: str) -> None:
    """Generated from the route table: each console route has a case, and keeps A hidden."""
    if _PARAM.search(path):
        _by_id(world, method, path)
        return
    case = PLAIN_ROUTES.get((method, path))
    assert case is not None, (
        f"{method} {path} has no isolation case: add one to PLAIN_ROUTES in {__name__}"
    )
    case(world, path)


# ------------------------------------------------------------------ roles


def test_owner_of_b_sees_b_data_and_not_a(world: World) -> None:
    b, a = world.b, world.a
    pages = {
        "/console": [b.account],
        "/console/tokens": [b.token_prefix, b.token_name],
        "/console/balance": [b.account],
        "/console/calls": [*b.api_items, *b.job_items],
        "/console/calls.csv": [*b.api_items, *b.job_items, b.token_prefix],
        "/console/tasks": b.task_ids,
        "/console/jobs": [b.job_id],
        f"/console/jobs/{b.job_id}": b.job_items,
        f"/console/jobs/{b.job_id}/results.jsonl": b.job_items,
        f"/console/jobs/{b.job_id}/results.csv": b.job_items,
        f"/console/tasks/{b.task_ids[0]}": [b.task_ids[0]],
        "/console/spending?range=7d": [b.token_prefix],
        "/console/watch": [b.watch_list],
        "/console/webhooks": [b.webhook_url],
        f"/console/webhooks/{b.webhook_id}": [b.webhook_url, f"delivery-{b.webhook_delivery_id}"],
        f"/console/watch/{b.watch_list_id}": [b.watch_list, *b.api_items],
        f"/console/items/{b.api_items[0]}": [b.api_items[0], "<svg"],
    }
    for path, wanted in pages.items():
        response = world.b_owner.get(path)
        assert response.status_code == 200, (path, response.status_code)
        missing = [w for w in wanted if w not in response.text]
        assert not missing, f"{path} lacks B's {missing}"
        assert_no_trace(response.text, a, path)
    progress = world.b_owner.get(f"/console/jobs/{b.job_id}/progress.json")
    assert progress.status_code == 200
    assert progress.json()["counts"]["succeeded"] == len(b.job_items)
    assert world.b_owner.get(f"/console/tokens/{b.token_id}").status_code == 200


def test_member_overview_shows_own_balance_and_budgets_read_only(world: World) -> None:
    page = world.b_member.get("/console").text
    assert world.b.failed_item in page  # its own recent failure and failed task
    assert world.b.failed_task in page
    operator = world.operator.get("/console").text
    for side in (world.a, world.b):
        assert side.failed_item in operator
    assert 'id="account-balance"' in page
    assert 'id="token-budgets"' in page
    assert world.b.token_prefix in page
    assert 'id="spend-month"' in page
    balance = world.b_member.get("/console/balance").text
    assert 'id="topup-form"' not in balance
    assert 'id="account-form"' not in balance
    assert 'id="read-only"' in balance


def test_nav_by_role(world: World) -> None:
    member = world.b_member.get("/console").text
    owner = world.b_owner.get("/console").text
    operator = world.operator.get("/console").text
    for href in ("/console/sessions", "/console/password"):
        assert f'href="{href}"' in member
    assert 'href="/console/members"' not in member
    assert 'href="/console/upstream"' not in member
    assert 'href="/console/members"' in owner
    assert 'href="/console/members"' in operator
    assert 'href="/console/upstream"' in operator
    assert world.b_member_email in member
    assert world.b.account in member
    assert ">operator<" in operator


def test_plain_member_changes_only_its_own_tokens(world: World) -> None:
    """A plain member may revoke and edit the tokens it created, not another member's;
    an owner manages every token of the account."""
    name = f"mine-{secrets.token_hex(3)}"
    created = world.b_member.post("/console/tokens", {"name": name, "permissions": "*"})
    assert created.status_code == 200, created.text
    token_id = int(world.live.scalar("SELECT id FROM tokens WHERE name = :n", n=name))
    enabled = "SELECT enabled FROM tokens WHERE id = :i"

    refused = world.b_other.post(f"/console/tokens/{token_id}/enabled", {"enabled": "0"})
    assert refused.status_code == 403
    assert "Ask an owner" in refused.text
    assert world.b_other.get(f"/console/tokens/{token_id}").status_code == 403
    edit = world.b_other.post(f"/console/tokens/{token_id}", {"name": "taken over"})
    assert edit.status_code == 403
    assert world.live.scalar(enabled, i=token_id) in (True, 1)
    # the listing shows it, without the buttons
    listing = world.b_other.get("/console/tokens").text
    assert name in listing
    assert f'action="/console/tokens/{token_id}/enabled"' not in listing

    own = world.b_member.post(f"/console/tokens/{token_id}/enabled", {"enabled": "0"})
    assert own.status_code == 303
    assert world.live.scalar(enabled, i=token_id) in (False, 0)
    by_owner = world.b_owner.post(f"/console/tokens/{token_id}/enabled", {"enabled": "1"})
    assert by_owner.status_code == 303
    assert world.live.scalar(enabled, i=token_id) in (True, 1)
    # the operator's own token of B is the owner's to manage, not a plain member's
    assert (
        world.b_member.post(f"/console/tokens/{world.b.token_id}/enabled", {"enabled": "0"})
    ).status_code == 403


def test_plain_member_changes_only_its_own_webhook_endpoints(world: World) -> None:
    """The token rule for endpoints: a plain member changes the endpoints it created, not
    another member's nor the operator's (403 saying what to do, nothing changed); an owner
    changes every one of the account's."""
    live = world.live

    def add(client: MemberClient) -> int:
        url = f"https://127.0.0.1:9/rule-{secrets.token_hex(3)}"
        assert client.post("/console/webhooks", {"url": url}).status_code == 200
        return int(live.scalar("SELECT id FROM webhook_endpoints WHERE url = :u", u=url))

    mine, theirs, operators = add(world.b_member), add(world.b_other), world.b.webhook_id
    state = "SELECT secret_sealed, enabled FROM webhook_endpoints WHERE id = :i ORDER BY id"
    before = [live.rows(state, i=i) for i in (theirs, operators)]
    deliveries = "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = :i"
    for endpoint in (theirs, operators):
        for action in ("rotate", "enable", "test", "remove"):
            refused = world.b_member.post(f"/console/webhooks/{endpoint}/{action}")
            assert refused.status_code == 403, (endpoint, action)
            assert "Ask an owner, or add an endpoint of your own" in refused.text
    replay = world.b_member.post(
        f"/console/webhooks/deliveries/{world.b.webhook_delivery_id}/replay"
    )
    assert replay.status_code == 403
    assert [live.rows(state, i=i) for i in (theirs, operators)] == before
    assert live.scalar(deliveries, i=theirs) == 0
    assert live.scalar(deliveries, i=operators) == 1
    listing = world.b_member.get("/console/webhooks").text
    assert f'action="/console/webhooks/{mine}/rotate"' in listing
    for endpoint in (theirs, operators):
        assert f'action="/console/webhooks/{endpoint}/rotate"' not in listing
        assert (
            f'action="/console/webhooks/{endpoint}/rotate"'
            in world.b_owner.get("/console/webhooks").text
        )

    assert world.b_member.post(f"/console/webhooks/{mine}/rotate").status_code == 200
    assert world.b_owner.post(f"/console/webhooks/{theirs}/rotate").status_code == 200
    assert world.b_owner.post(f"/console/webhooks/{mine}/remove").status_code == 303
    assert world.b_owner.post(f"/console/webhooks/{theirs}/remove").status_code == 303
    assert live.scalar(deliveries, i=operators) == 1


def test_member_tokens_stay_within_the_operator_caps(world: World) -> None:
    async def cap(ctx: ServerContext) -> None:
        async with ctx.sessionmaker() as db:
            caps = MemberCaps(max_budget_units=50_000, max_daily_quota=100)
            await set_member_caps(db, world.b.account, caps)

    async def uncap(ctx: ServerContext) -> None:
        async with ctx.sessionmaker() as db:
            await set_member_caps(db, world.b.account, MemberCaps())

    world.live.run(cap)
    try:
        over = world.b_member.post(
            "/console/tokens",
            {"name": "big", "budget": "6", "daily_quota": "100", "permissions": "*"},
        )
        assert over.status_code == 400, over.text
        assert "set a budget of 5.0000 yuan or less" in _error(over.text), _error(over.text)
        missing = world.b_member.post(
            "/console/tokens", {"name": "none", "daily_quota": "10", "permissions": "*"}
        )
        assert missing.status_code == 400
        name = f"capped-{secrets.token_hex(3)}"
        ok = world.b_member.post(
            "/console/tokens",
            {"name": name, "budget": "5", "daily_quota": "100", "permissions": "*"},
        )
        assert ok.status_code == 200, ok.text
        token_id = int(world.live.scalar("SELECT id FROM tokens WHERE name = :n", n=name))
        listing = world.b_member.get("/console/tokens").text
        assert 'id="member-caps"' in listing
        row = listing[listing.index(name) :].split("</tr>", 1)[0]
        assert "¥5.0000" in row  # budget left
        assert "100 of 100" in row  # today's quota left
        raise_budget = world.b_member.post(
            f"/console/tokens/{token_id}",
            {"name": name, "budget": "50", "daily_quota": "100", "permissions": "*"},
        )
        assert raise_budget.status_code == 400
        assert world.live.scalar("SELECT budget FROM tokens WHERE id = :i", i=token_id) == 50_000
        # the operator is not capped
        operator = world.operator.post(
            f"/console/tokens/{token_id}",
            {"name": name, "budget": "50", "daily_quota": "100", "permissions": "*"},
        )
        assert operator.status_code == 303
    finally:
        world.live.run(uncap)


def test_operator_still_sees_both_accounts(world: World) -> None:
    a, b = world.a, world.b
    for path, wanted in {
        "/console/tokens": [a.token_prefix, b.token_prefix],
        "/console/calls": [*a.api_items, *b.api_items],
        "/console/jobs": [a.job_id, b.job_id],
        "/console/balance": [a.account, b.account],
        "/console/tasks": [*a.task_ids, *b.task_ids],
        "/console/watch": [a.watch_list, a.account, b.watch_list, b.account],
        "/console/webhooks": [a.webhook_url, a.account, b.webhook_url, b.account],
        f"/console/items/{a.api_items[0]}?account={a.account}": [a.api_items[0], "<svg"],
    }.items():
        text = world.operator.get(path).text
        missing = [w for w in wanted if w not in text]
        assert not missing, f"the operator's {path} lacks {missing}"
    for path in (f"/console/jobs/{a.job_id}", f"/console/tasks/{a.task_ids[0]}"):
        assert world.operator.get(path).status_code == 200
    assert world.a_owner.get(f"/console/jobs/{a.job_id}").status_code == 200
    assert world.a_owner.get(f"/console/jobs/{b.job_id}").status_code == 404


def test_job_items_show_title_and_price(world: World) -> None:
    """The item table reads title and price from the stored payload (shared normaliser)."""
    page = world.b_owner.get(f"/console/jobs/{world.b.job_id}").text
    records = world.b_owner.get(f"/console/jobs/{world.b.job_id}/results.jsonl").text
    for line in records.splitlines():
        record = json.loads(line)
        product = Product.from_payload(record["data"], sku_id=record["itemId"])
        assert product.title
        assert html.escape(product.title) in page
        title, price = item_summary(BulkJobItem(item_id=record["itemId"], payload=record["data"]))
        assert title == product.title
        assert price
        assert html.escape(price) in page
