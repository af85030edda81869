"""The v2 fast path (:mod:`jditem.server.http.fast_path`) answers byte for byte what the
full app answers: every code of SPEC §2.2, in both ``http_status_mode``s, over real HTTP.

Each case is sent twice to one live server — once through the fast path, once around it
(a test-only switch in place of the app's fast path hands the request straight to
FastAPI's own handling) — and the two answers are compared: status, every header in
order (the values of ``date`` and ``X-Request-Id`` aside) and the body (``requestId``
and ``recordTime`` aside). Requests the fast path does not take (other paths and
methods, ``HEAD``, too many headers, a NUL) are compared the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from jditem.server.api.v2 import V2_PATH
from jditem.server.context import ServerContext
from jditem.server.http.fast_path import FastPathApp, V2FastPath
from jditem.server.upstream.circuit import Circuit
from tests.support.live_server import LiveServer, live_server
from tests.support.waiting import wait_until

UNSUPPORTED = "100000000202"
RECORD_TIME = re.compile(rb'"recordTime":"[^"]*"')


@dataclass
class Around:
    """Whether the next requests go around the fast path (set by the test thread)."""

    full_app: bool = False
    #: Requests that reached the app below the fast path.
    below: int = 0


class Switch:
    """Test-only stand-in for the app's fast path: ``around.full_app`` sends requests to
    FastAPI's own handling (what the server answered before the fast path existed)."""

    def __init__(self, fast: V2FastPath, around: Around) -> None:
        self.fast = fast
        self.around = around
        inner = fast.app

        async def below(scope: Scope, receive: Receive, send: Send) -> None:
            around.below += 1
            await inner(scope, receive, send)

        fast.app = below

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.around.full_app:
            await self.fast.app(scope, receive, send)
        else:
            await self.fast(scope, receive, send)


class Paths:
    """A live server and its switch: :meth:`both` sends one request down both paths."""

    def __init__(self, live: LiveServer, around: Around) -> None:
        self.live = live
        self.around = around

    def one(self, full_app: bool, send: Callable[[], httpx.Response]) -> httpx.Response:
        self.around.full_app = full_app
        try:
            return send()
        finally:
            self.around.full_app = False

    def both(
        self, send: Callable[[], httpx.Response], *, taken: bool = True
    ) -> tuple[httpx.Response, httpx.Response]:
        """(fast path's answer, full app's answer) to the same request, asserted equal;
        ``taken``: whether the fast path answers it itself (else it falls through)."""
        before = self.around.below
        fast = self.one(False, send)
        assert self.around.below == before + (0 if taken else 1)
        full = self.one(True, send)
        assert normalized(fast) == normalized(full)
        return fast, full


def normalized(response: httpx.Response) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, raw headers in order and body, the per-call values replaced."""
    request_id = response.headers.get("x-request-id", "").encode()
    headers = [
        (name, b"*" if name.lower() in (b"date", b"x-request-id") else value)
        for name, value in response.headers.raw
    ]
    body = RECORD_TIME.sub(b'"recordTime":"*"', response.content)
    if request_id:
        body = body.replace(request_id, b"*")
    return response.status_code, headers, body


def _switched(around: Around) -> Callable[[FastAPI], None]:
    def configure(app: FastAPI) -> None:
        assert isinstance(app, FastPathApp)
        assert isinstance(app.fast_path, V2FastPath)
        app.fast_path = Switch(app.fast_path, around)

    return configure


@pytest.fixture(scope="module", params=["mapped", "always-200"])
def paths(request: pytest.FixtureRequest) -> Iterator[Paths]:
    around = Around()
    with live_server(
        http_status_mode=request.param,
        sandbox_latency_ms=(300, 400),
        wait_seconds=0.05,
        sandbox_unsupported_ids=[UNSUPPORTED],
        configure_app=_switched(around),
    ) as live:
        yield Paths(live, around)


@pytest.fixture(scope="module")
def failing() -> Iterator[Paths]:
    around = Around()
    with live_server(
        sandbox_failure_rate=1.0, max_attempts=1, configure_app=_switched(around)
    ) as live:
        yield Paths(live, around)


def code_of(response: httpx.Response) -> int:
    code: int = response.json()["code"]
    return code


def until(paths: Paths, item: str, token: str, code: int) -> None:
    wait_until(
        lambda: code_of(paths.live.get(item, token)) == code,
        what=f"code {code} for item {item}",
        timeout=60.0,
        interval=0.1,
    )


def test_0_success_is_charged_on_both_paths(paths: Paths) -> None:
    live = paths.live
    token = live.make_token("f0")
    until(paths, "100012043978", token, 0)
    spent = live.scalar(
        "SELECT spent FROM tokens WHERE name = 't' AND account_id = "
        "(SELECT id FROM accounts WHERE name = 'f0')"
    )
    fast, _ = paths.both(lambda: live.get("100012043978", token))
    assert code_of(fast) == 0
    assert fast.headers["x-content-type-options"] == "nosniff"
    after = live.scalar(
        "SELECT spent FROM tokens WHERE name = 't' AND account_id = "
        "(SELECT id FROM accounts WHERE name = 'f0')"
    )
    assert after == spent + 2 * live.settings.price_units  # each path charged once
    # the query-string token and an idempotency key, too
    query = {"itemId": "100012043978", "token": token}
    keyed = {"Idempotency-Key": "fast-path-1"}
    paths.one(False, lambda: live.http.get(V2_PATH, params=query, headers=keyed))
    fast, _ = paths.both(lambda: live.http.get(V2_PATH, params=query, headers=keyed))
    assert fast.headers["idempotent-replayed"] == "true"


def test_102_pending(paths: Paths) -> None:
    token = paths.live.make_token("f102")
    item = "100012043102"
    first = paths.live.get(item, token)
    assert code_of(first) == 102
    task = first.json()["data"]["taskId"]
    fast, full = paths.both(lambda: paths.live.get(item, token))
    if code_of(fast) == 102:  # (unless the task finished in between: then both are 0)
        assert fast.json()["data"]["taskId"] == full.json()["data"]["taskId"] == task


def test_100_missing_unknown_disabled_and_repeated(paths: Paths) -> None:
    live = paths.live
    assert code_of(paths.both(lambda: live.get("1"))[0]) == 100
    assert code_of(paths.both(lambda: live.get("1", "jd_not-a-real-token"))[0]) == 100
    token = live.make_token("f100")
    repeated = [("authorization", f"Bearer {token}")] * 2
    sent = paths.both(lambda: live.http.get(V2_PATH, params={"itemId": "1"}, headers=repeated))
    assert "more than once" in sent[0].json()["message"]
    both_forms = {"itemId": "1", "token": "jd_other"}
    headers = {"Authorization": f"Bearer {token}"}
    sent = paths.both(lambda: live.http.get(V2_PATH, params=both_forms, headers=headers))
    assert "disagree" in sent[0].json()["message"]
    live.admin("POST", f"/tokens/{token[:10]}/disable")
    assert code_of(paths.both(lambda: live.get("1", token))[0]) == 100


def test_202_not_supported(paths: Paths) -> None:
    token = paths.live.make_token("f202")
    until(paths, UNSUPPORTED, token, 202)
    assert code_of(paths.both(lambda: paths.live.get(UNSUPPORTED, token))[0]) == 202


def test_301_collection_failed(failing: Paths) -> None:
    token = failing.live.make_token("f301")
    until(failing, "123", token, 301)
    assert code_of(failing.both(lambda: failing.live.get("123", token))[0]) == 301


def test_302_rate_limited(paths: Paths) -> None:
    token = paths.live.make_token("f302", rate=0.01, burst=1)
    paths.live.get("77", token)
    fast, _ = paths.both(lambda: paths.live.get("77", token))
    assert code_of(fast) == 302
    assert "retry-after" in fast.headers


def test_303_quota_exceeded(paths: Paths) -> None:
    token = paths.live.make_token("f303", daily_quota=1)
    paths.live.get("78", token)
    assert code_of(paths.both(lambda: paths.live.get("78", token))[0]) == 303


def test_400_invalid_or_repeated_item_and_bad_key(paths: Paths) -> None:
    live = paths.live
    token = live.make_token("f400")
    assert code_of(paths.both(lambda: live.get("12a", token))[0]) == 400
    assert code_of(paths.both(lambda: live.get(None, token))[0]) == 400
    headers = {"Authorization": f"Bearer {token}"}
    twice = [("itemId", "1"), ("itemId", "2")]
    assert (
        code_of(paths.both(lambda: live.http.get(V2_PATH, params=twice, headers=headers))[0]) == 400
    )
    bad_key = {**headers, "Idempotency-Key": ""}
    sent = paths.both(lambda: live.http.get(V2_PATH, params={"itemId": "1"}, headers=bad_key))
    assert code_of(sent[0]) == 400


def test_500_when_the_database_breaks(paths: Paths) -> None:
    live = paths.live
    token = live.make_token("f500")
    live.execute("ALTER TABLE results RENAME TO results_away")
    try:
        fast, _ = paths.both(lambda: live.get("79", token))
    finally:
        live.execute("ALTER TABLE results_away RENAME TO results")
    assert code_of(fast) == 500
    assert fast.json()["requestId"] in fast.json()["message"]


def test_503_upstream_circuit_open(paths: Paths) -> None:
    live = paths.live
    token = live.make_token("f503")
    circuit = Circuit(3600.0)

    async def open_circuit(ctx: ServerContext) -> None:
        circuit.trip(None, "the upstream serves no data")
        ctx.admission.circuit = circuit

    async def close_circuit(ctx: ServerContext) -> None:
        ctx.admission.circuit = None

    live.run(open_circuit)
    try:
        fast, _ = paths.both(lambda: live.get("100012043503", token))
    finally:
        live.run(close_circuit)
    assert code_of(fast) == 503


def test_600_601_602(paths: Paths) -> None:
    live = paths.live
    denied = live.make_token("f600", permissions=["jd/other-endpoint"])
    assert code_of(paths.both(lambda: live.get("1", denied))[0]) == 600
    poor = live.make_token("f601", balance_yuan="0.0099")
    assert code_of(paths.both(lambda: live.get("1", poor))[0]) == 601
    spent = live.make_token("f602", budget_yuan="0.0099")
    assert code_of(paths.both(lambda: live.get("1", spent))[0]) == 602


def test_what_the_fast_path_does_not_take_falls_through(paths: Paths) -> None:
    live = paths.live
    http = live.http
    token = live.make_token("fthrough")
    auth = {"Authorization": f"Bearer {token}"}
    assert (
        code_of(paths.both(lambda: http.get("/api/jd/nope"), taken=False)[0]) == 404
    )  # 404: a path
    assert code_of(paths.both(lambda: http.get(V2_PATH + "/"), taken=False)[0]) == 404
    posted = paths.both(
        lambda: http.post(V2_PATH, params={"itemId": "1"}, headers=auth), taken=False
    )
    assert posted[0].status_code in (200, 405)
    assert paths.both(lambda: http.head(V2_PATH, params={"itemId": "1"}, headers=auth), taken=False)
    many = [(f"x-h{i}", "1") for i in range(live.settings.max_request_headers + 1)]
    crowded = paths.both(
        lambda: http.get(V2_PATH, params={"itemId": "1"}, headers=many), taken=False
    )
    assert "header fields" in crowded[0].json()["message"]
    nul = paths.both(lambda: http.get(V2_PATH + "?itemId=1%00", headers=auth), taken=False)
    assert "NUL" in nul[0].json()["message"]
