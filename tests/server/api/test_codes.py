"""Every code of SPEC §2.2, reached over real HTTP, in both ``http_status_mode``s.

One live server per mode (module scope) with a slow-ish sandbox so that a new item is
still pending when a short wait ends (102), and a failing sandbox for 301.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support.backends import Backend
from tests.support.live_server import LiveServer, live_server
from tests.support.waiting import wait_until

UNSUPPORTED = "100000000202"
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")
MODES = ["mapped", "always-200"]


def _boom_route(app: FastAPI) -> None:
    """A test-only route that raises, to reach the unhandled-exception path (500)."""

    @app.get("/api/test/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom: secret internals")


@pytest.fixture(scope="module", params=MODES)
def server(request: pytest.FixtureRequest, backend: Backend) -> Iterator[LiveServer]:
    with (
        backend.database(),
        live_server(
            http_status_mode=request.param,
            sandbox_latency_ms=(400, 500),
            wait_seconds=0.05,
            sandbox_unsupported_ids=[UNSUPPORTED],
            configure_app=_boom_route,
        ) as live,
    ):
        yield live


@pytest.fixture(scope="module", params=MODES)
def failing_server(request: pytest.FixtureRequest, backend: Backend) -> Iterator[LiveServer]:
    with (
        backend.database(),
        live_server(
            http_status_mode=request.param,
            sandbox_failure_rate=1.0,
            max_attempts=1,
            wait_seconds=3.0,
        ) as live,
    ):
        yield live


def check(live: LiveServer, response: httpx.Response, code: int, http: int) -> dict[str, Any]:
    """Assert the exact envelope, the business code and the mode's HTTP status."""
    body = response.json()
    assert set(body) == {"code", "message", "data", "recordTime", "requestId"}, body
    assert body["code"] == code, body
    expected_status = 200 if live.settings.http_status_mode == "always-200" else http
    assert response.status_code == expected_status, (response.status_code, body)
    assert isinstance(body["message"], str)
    assert body["message"]
    assert ISO_WITH_OFFSET.match(body["recordTime"]), body["recordTime"]
    assert response.headers["x-request-id"] == body["requestId"]
    assert len(body["requestId"]) == 26
    return body


def poll(call: Callable[[], httpx.Response], until: int, seconds: float = 60.0) -> httpx.Response:
    """Call until the body code is ``until`` (bounded in time)."""

    def reached() -> httpx.Response | None:
        response = call()
        return response if response.json()["code"] == until else None

    return wait_until(reached, what=f"code {until}", timeout=seconds, interval=0.1)


def test_0_success_and_102_pending(server: LiveServer) -> None:
    token = server.make_token("c0")
    item = "100012043978"
    pending = check(server, server.get(item, token), 102, 202)
    data = pending["data"]
    assert set(data) >= {"taskId", "itemId", "taskStatus", "submittedAt", "attempt", "retryAfter"}
    assert data["itemId"] == item
    assert data["taskStatus"] in ("queued", "running")
    assert server.get(item, token).headers["retry-after"] == str(data["retryAfter"])
    again = server.get(item, token).json()
    assert again["code"] == 0 or again["data"]["taskId"] == data["taskId"]  # same task
    done = check(server, poll(lambda: server.get(item, token), 0), 0, 200)
    assert done["data"]["product"]["skuId"] == item
    charged = server.scalar(
        "SELECT spent FROM tokens WHERE name = 't' AND account_id = "
        "(SELECT id FROM accounts WHERE name = 'c0')"
    )
    assert charged == 100  # only the code-0 call was charged


def test_100_missing_unknown_disabled(server: LiveServer) -> None:
    assert "missing token" in check(server, server.get("1"), 100, 401)["message"]
    check(server, server.get("1", "jd_not-a-real-token"), 100, 401)
    token = server.make_token("c100")
    server.admin("POST", f"/tokens/{token[:10]}/disable")
    assert "disabled" in check(server, server.get("1", token), 100, 401)["message"]


def test_202_not_supported(server: LiveServer) -> None:
    token = server.make_token("c202")
    body = check(server, poll(lambda: server.get(UNSUPPORTED, token), 202), 202, 200)
    assert body["data"] is None
    assert server.scalar("SELECT balance FROM accounts WHERE name = 'c202'") == 1_000_000


def test_301_collection_failed(failing_server: LiveServer) -> None:
    token = failing_server.make_token("c301")
    body = check(failing_server, poll(lambda: failing_server.get("123", token), 301), 301, 503)
    assert "retry" in body["message"]


def test_302_rate_limited(server: LiveServer) -> None:
    token = server.make_token("c302", rate=0.01, burst=1)
    assert server.get("77", token).json()["code"] in (0, 102)
    response = server.get("77", token)
    check(server, response, 302, 429)
    assert int(response.headers["retry-after"]) >= 1


def test_303_quota_exceeded(server: LiveServer) -> None:
    token = server.make_token("c303", daily_quota=1)
    assert server.get("78", token).json()["code"] in (0, 102)
    body = check(server, server.get("78", token), 303, 429)
    assert ISO_WITH_OFFSET.match(body["data"]["resetAt"])
    assert body["data"]["resetAt"].endswith("T00:00:00.000+08:00")
    assert body["message"].startswith("daily quota of 1 call exceeded")  # not "1 calls"


def test_400_invalid_item(server: LiveServer) -> None:
    token = server.make_token("c400")
    assert "itemId" in check(server, server.get("12a", token), 400, 400)["message"]


def test_404_unknown_path(server: LiveServer) -> None:
    body = check(server, server.http.get("/api/jd/nope"), 404, 404)
    assert "/api/jd/nope" in body["message"]


def test_405_wrong_method_is_code_400(server: LiveServer) -> None:
    response = server.http.post("/api/jd/get-item-detail/v2", params={"itemId": "1"})
    check(server, response, 400, 405)


def test_500_unhandled_exception(server: LiveServer) -> None:
    response = server.http.get("/api/test/boom")
    body = check(server, response, 500, 500)
    assert "kaboom" not in response.text
    assert "Traceback" not in response.text
    assert body["requestId"] in body["message"]


def test_500_when_the_database_breaks(server: LiveServer) -> None:
    """A real fault (the results table vanishes) answers 500, not a stack trace."""
    token = server.make_token("c500")
    server.execute("ALTER TABLE results RENAME TO results_away")
    try:
        body = check(server, server.get("79", token), 500, 500)
        assert "Traceback" not in body["message"]
    finally:
        server.execute("ALTER TABLE results_away RENAME TO results")


def test_600_permission_denied(server: LiveServer) -> None:
    token = server.make_token("c600", permissions=["jd/other-endpoint"])
    check(server, server.get("1", token), 600, 403)


def test_601_insufficient_balance(server: LiveServer) -> None:
    token = server.make_token("c601", balance_yuan="0.0099")
    check(server, server.get("1", token), 601, 402)


def test_602_budget_exhausted(server: LiveServer) -> None:
    token = server.make_token("c602", budget_yuan="0.0099")
    check(server, server.get("1", token), 602, 402)
