"""Hostile clients against the real server on loopback, one class of abuse per test.

Sizes and counts are bounded so the suite stays fast; waits poll a condition with a
generous deadline (never "it happened within x s" on a busy machine).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.backends import Backend
from tests.support.live_server import V2_PATH, LiveServer, live_server
from tests.support.waiting import wait_until

DEADLINE = 30.0
TOKEN_LIKE = "jd_" + "S" * 43


def _connect(live: LiveServer) -> socket.socket:
    host, port = live.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=DEADLINE)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    sock.settimeout(DEADLINE)
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):
        sock.sendall(data)  # the server may answer and close early: what we want


def _status_and_envelope(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def _health_ok(live: LiveServer) -> bool:
    with httpx.Client(timeout=DEADLINE) as client:
        return client.get(live.base_url + "/api/health").json()["code"] == 0


@pytest.fixture(scope="module")
def hostile(backend: Backend) -> Iterator[LiveServer]:
    """One server per profile (SQLite; PostgreSQL + Redis) for the hostile inputs."""
    with (
        backend.database(),
        live_server(
            max_request_head_bytes=8 * 1024,
            max_request_headers=30,
            header_timeout_seconds=1.0,
            max_connections=40,
            auth_free_failures=3,
            auth_max_delay_seconds=60,
        ) as live,
    ):
        yield live


# ------------------------------------------------------------------ request heads


def test_a_huge_request_line_is_answered_414_at_once(hostile: LiveServer) -> None:
    sock = _connect(hostile)
    _send_quietly(sock, b"GET /api/health?x=" + b"a" * 2_000_000)
    status, body = _status_and_envelope(_read_all(sock))
    sock.close()
    assert status == 414
    assert body["code"] == 400
    assert "request line" in body["message"]
    assert _health_ok(hostile)


def test_a_huge_header_block_is_answered_431(hostile: LiveServer) -> None:
    sock = _connect(hostile)
    _send_quietly(sock, b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 2_000_000)
    status, body = _status_and_envelope(_read_all(sock))
    sock.close()
    assert status == 431
    assert body["code"] == 400
    assert set(body) >= {"requestId", "recordTime"}


def test_too_many_header_fields_are_answered_431(hostile: LiveServer) -> None:
    headers = {f"X-H{i}": "1" for i in range(60)}
    response = hostile.http.get("/api/health", headers=headers)
    assert response.status_code == 431
    assert response.json()["code"] == 400
    assert "header fields" in response.json()["message"]


# ----------------------------------------------------------------- slow clients


def test_slow_header_trickle_is_cut_off_and_health_stays_answerable(hostile: LiveServer) -> None:
    """20 clients trickle header lines; each gets 408 after the header timeout while
    other clients are served throughout."""
    socks = [_connect(hostile) for _ in range(20)]
    for sock in socks:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
    assert _health_ok(hostile)  # served while the slow heads are open
    for sock in socks:
        _send_quietly(sock, b"X-Slow: 1\r\n")
    answers = [_read_all(sock) for sock in socks]  # the server closes each of them
    for sock in socks:
        sock.close()
    assert all(_status_and_envelope(raw)[0] == 408 for raw in answers), answers[:1]
    assert _health_ok(hostile)


def test_connections_beyond_the_cap_are_refused_503_then_served_again(
    hostile: LiveServer,
) -> None:
    """45 connections against a cap of 40, heads left unfinished: each one is answered
    and closed — 503 at once beyond the cap, 408 after the header timeout within it."""
    socks = [_connect(hostile) for _ in range(45)]
    for sock in socks:
        _send_quietly(sock, b"GET /api/health HTTP/1.1\r\n")  # heads left unfinished
    answers = [_read_all(sock) for sock in socks]
    for sock in socks:
        sock.close()
    statuses = [_status_and_envelope(raw)[0] for raw in answers]
    assert set(statuses) <= {408, 503}, statuses
    refused = [raw for raw in answers if raw.startswith(b"HTTP/1.1 503")]
    assert refused, "no connection beyond max_connections was refused"
    body = _status_and_envelope(refused[0])[1]
    assert body["code"] == 500
    assert b"retry-after: 2" in refused[0].lower()

    def health_answers() -> bool:
        try:
            return _health_ok(hostile)
        except (httpx.HTTPError, json.JSONDecodeError):
            return False

    wait_until(health_answers, what="health to answer again")


# ------------------------------------------------------------------- credentials


def test_two_authorization_headers_are_refused(hostile: LiveServer) -> None:
    token = hostile.make_token("creds")
    headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    response = hostile.http.get(V2_PATH, params={"itemId": "100012043978"}, headers=headers)
    body = response.json()
    assert body["code"] == 100
    assert "more than once" in body["message"]


def test_a_percent_encoded_second_token_parameter_is_refused(hostile: LiveServer) -> None:
    token = hostile.make_token("creds2")
    response = hostile.http.get(V2_PATH + f"?itemId=100012043978&token={token}&%74oken={token}")
    body = response.json()
    assert body["code"] == 100
    assert "more than once" in body["message"]


@pytest.mark.parametrize(
    "headers",
    [
        [("X-Admin-Key", "k"), ("X-Admin-Key", "k")],
        [("Authorization", "Bearer k"), ("Authorization", "Bearer k")],
        [("X-Admin-Key", "k"), ("Authorization", "Bearer k")],
    ],
)
def test_a_repeated_admin_key_is_refused(
    hostile: LiveServer, headers: list[tuple[str, str]]
) -> None:
    key = hostile.admin_key
    sent = [
        (name, value.replace("k", key) if value.endswith("k") else value) for name, value in headers
    ]
    response = hostile.http.get("/api/admin/accounts", headers=sent)
    body = response.json()
    assert response.status_code == 400
    assert body["code"] == 400
    assert "more than once" in body["message"]


# --------------------------------------------------------------------- redirects


@pytest.mark.parametrize(
    "path", ["/api/health/", "/api/jd/get-item-detail/v2/", "/api/admin/accounts/"]
)
def test_no_redirect_echoes_the_query_into_a_host_built_location(
    hostile: LiveServer, path: str
) -> None:
    response = hostile.http.get(
        path + f"?token={TOKEN_LIKE}&itemId=1", headers={"Host": "evil.example"}
    )
    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.json()["code"] == 404
    assert TOKEN_LIKE not in response.text


# ------------------------------------------------------------------ access log


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_the_access_log_redacts_what_the_server_decodes() -> None:
    collect = _Collect()
    access = logging.getLogger("uvicorn.access")
    access.addHandler(collect)
    try:
        with live_server(log_level="info") as live:
            token = live.make_token("logs")
            encoded = token.replace("_", "%5F")
            live.http.get(V2_PATH + f"?itemId=100012043978&%74oken={token}")
            live.http.get(V2_PATH + f"?itemId=100012043978&token={encoded}")
            live.http.get(V2_PATH + f"?itemId=100012043978&x={encoded}")
            live.http.get(V2_PATH + f"?itemId=100012043978&%74%6Fken={encoded}")
    finally:
        access.removeHandler(collect)
    text = "\n".join(collect.lines)
    assert V2_PATH in text  # the calls were logged
    secret = token.removeprefix("jd_")
    assert secret not in text
    assert secret.replace("_", "%5F") not in text


# ------------------------------------------------------------------ auth throttle


def test_wrong_admin_keys_are_throttled_then_429_with_retry_after(hostile: LiveServer) -> None:
    statuses = []
    for _ in range(5):
        response = hostile.http.get("/api/admin/accounts", headers={"X-Admin-Key": "wrong"})
        statuses.append(response.status_code)
    assert statuses[:3] == [401, 401, 401]
    assert statuses[-1] == 429
    throttled = hostile.http.get("/api/admin/accounts", headers={"X-Admin-Key": hostile.admin_key})
    assert throttled.status_code == 429  # even the right key waits: guessing gains nothing
    assert int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["code"] == 302
    hostile.run(lambda _: hostile.app.state.auth_throttle.succeeded("127.0.0.1"))  # let others in


def test_console_sign_in_is_throttled_too(hostile: LiveServer) -> None:
    from tests.server.console.conftest import _LOGIN

    statuses = []
    with httpx.Client(base_url=hostile.base_url, timeout=DEADLINE) as client:
        for _ in range(5):
            form = client.get("/console/login")
            match = _LOGIN.search(form.text)
            assert match
            response = client.post(
                "/console/login",
                data={"login_token": match.group(1), "admin_key": "guess-" + "x" * 40},
            )
            statuses.append(response.status_code)
    hostile.run(lambda _: hostile.app.state.auth_throttle.succeeded("127.0.0.1"))
    assert statuses[:3] == [401, 401, 401]
    assert statuses[-1] == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert "Try again in" in response.text


# ---------------------------------------------------------------------- health


@pytest.mark.parametrize("path", ["/api/health", "/api/health/jd/get-item-detail/v2"])
def test_head_on_health(hostile: LiveServer, path: str) -> None:
    response = hostile.http.head(path)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "application/json"


# ------------------------------------------------------------- amounts and limits


@pytest.mark.parametrize(
    "amount", ["1e3", "1_000", "\uff11\uff12", "\u0663", "0.00001", "NaN", "-5", "+5", "9" * 400]
)
def test_admin_api_refuses_malformed_yuan_with_400(hostile: LiveServer, amount: str) -> None:
    response = hostile.http.post(
        "/api/admin/accounts",
        json={"name": "never", "balance_yuan": amount},
        headers={"X-Admin-Key": hostile.admin_key},
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400
    assert hostile.scalar("SELECT count(*) FROM accounts WHERE name = 'never'") == 0


def test_a_top_up_past_the_maximum_balance_is_refused_before_anything_is_written(
    hostile: LiveServer,
) -> None:
    hostile.admin("POST", "/accounts", {"name": "rich", "balance_yuan": "100000000000"})
    ledger_rows = hostile.scalar("SELECT count(*) FROM ledger")
    response = hostile.http.post(
        "/api/admin/accounts/rich/topup",
        json={"amount_yuan": "0.0001"},
        headers={"X-Admin-Key": hostile.admin_key},
    )
    assert response.json()["code"] == 400
    assert "maximum" in response.json()["message"]
    assert hostile.scalar("SELECT balance FROM accounts WHERE name = 'rich'") == 10**15
    assert hostile.scalar("SELECT count(*) FROM ledger") == ledger_rows


@pytest.mark.parametrize(
    "body",
    [
        {"rate_limit": 0.00001},
        {"rate_limit": 1e12},
        {"burst": 10**7},
        {"daily_quota": 0},
        {"budget_units": 10**20},
        {"budget_yuan": "1e2"},
    ],
)
def test_token_limits_out_of_range_are_400(hostile: LiveServer, body: dict[str, Any]) -> None:
    if "lim" not in {a["name"] for a in hostile.admin("GET", "/accounts")}:
        hostile.admin("POST", "/accounts", {"name": "lim"})
    response = hostile.http.post(
        "/api/admin/tokens",
        json={"account": "lim", **body},
        headers={"X-Admin-Key": hostile.admin_key},
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400


@pytest.mark.parametrize(
    "path",
    [
        "/api/admin/ledger?offset=" + "9" * 30,
        "/api/admin/ledger?limit=" + "9" * 30,
        "/api/admin/ledger?limit=-1",
        "/api/admin/tokens/" + "9" * 30 + "/enable",
        "/api/admin/accounts/" + "x" * 5000,
    ],
)
def test_admin_urls_with_out_of_range_integers(hostile: LiveServer, path: str) -> None:
    method = "POST" if path.endswith("/enable") else "GET"
    response = hostile.http.request(method, path, headers={"X-Admin-Key": hostile.admin_key})
    assert response.status_code in (400, 404), response.text
    assert response.json()["code"] in (400, 404)


@pytest.mark.parametrize(
    ("path", "statuses"),
    [
        ("/console/calls?page=" + "9" * 40, {200}),
        ("/console/calls?token=" + "9" * 40, {400}),
        ("/console/calls?token=%C2%B2", {400}),
        ("/console/calls?code=-" + "9" * 40, {400}),
        ("/console/calls?from=9999-12-31", {400}),
        ("/console/calls?to=0001-01-01", {400}),
        ("/console/calls.csv?token=" + "9" * 40, {400}),
        ("/console/tasks?page=" + "9" * 40, {200}),
        ("/console/balance?page=" + "9" * 40, {200}),
        ("/console/tokens/" + "9" * 40, {404}),
        ("/console/tokens/" + "9" * 12, {404}),  # past PostgreSQL's int4 ids
        ("/console/calls?token=" + "9" * 12, {400}),
        ("/console/calls.csv?token=" + "9" * 12, {400}),
        ("/console/trends?range=" + "9" * 40, {200, 400}),
        ("/console/jobs/" + "9" * 40, {404}),
        ("/console/tasks/" + "9" * 40, {404}),
    ],
)
def test_console_urls_with_out_of_range_values(
    hostile: LiveServer, path: str, statuses: set[int]
) -> None:
    from tests.server.console.conftest import ConsoleClient

    client = ConsoleClient(hostile)
    try:
        client.sign_in()
        response = client.get(path)
    finally:
        client.close()
    assert response.status_code in statuses, (response.status_code, response.text[:300])


def test_console_job_form_size_problems_answer_the_page(hostile: LiveServer) -> None:
    from tests.server.console.conftest import ConsoleClient

    token = hostile.make_token("jobs-size")
    token_id = hostile.scalar("SELECT max(id) FROM tokens")
    assert token
    client = ConsoleClient(hostile)
    try:
        client.sign_in()
        too_many = "\n".join(str(100000000000 + i) for i in range(10_001))
        huge = "1 " * (3 * 1024 * 1024)  # over 5 MB
        refused = [
            client.post(
                "/console/jobs", {"token": str(token_id), "items": text}, files={"file": ("", b"")}
            )
            for text in (too_many, huge)
        ]
        # Over Starlette's 1 MB default for a form field, within the promised 5 MB.
        url = "https://item.jd.com/100012043978.html?" + "utm=" + "x" * 200
        big_paste = "\n".join([url] * 6000)
        accepted = client.post(
            "/console/jobs",
            {"token": str(token_id), "items": big_paste},
            files={"file": ("", b"")},
        )
        bad_token = client.post("/console/jobs", {"token": "9" * 40, "items": "1"})
    finally:
        client.close()
    for response in refused:
        assert response.status_code == 400, response.text[:300]
        assert "at most 5 MB of pasted text" in response.text
    assert len(big_paste) > 1024 * 1024
    assert accepted.status_code == 303, accepted.text[:300]
    assert bad_token.status_code == 400


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/console/balance/topup", {"account": "acme", "amount": "1e3"}),
        ("/console/balance/topup", {"account": "acme", "amount": "\uff15"}),
        ("/console/balance/topup", {"account": "x" * 500, "amount": "1"}),
        ("/console/balance/accounts", {"name": "never2", "opening": "1_000"}),
        ("/console/tokens/1/enabled", {"enabled": "1" * 500}),
        ("/console/tokens/1", {"name": "n" * 5000, "rate_limit": "0.00001"}),
        ("/console/tokens", {"account": "acme", "budget": "NaN"}),
    ],
)
def test_console_forms_refuse_bad_amounts_and_fields_with_400(
    hostile: LiveServer, path: str, data: dict[str, str]
) -> None:
    from tests.server.console.conftest import ConsoleClient

    if "acme" not in {a["name"] for a in hostile.admin("GET", "/accounts")}:
        hostile.make_token("acme")
    touched = "SELECT name, balance FROM accounts WHERE name IN ('acme', 'never2') ORDER BY name"
    before = hostile.rows(touched)
    client = ConsoleClient(hostile)
    try:
        client.sign_in()
        response = client.post(path, data)
    finally:
        client.close()
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert hostile.rows(touched) == before  # (other tests' jobs may still be charging)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/admin/accounts/a%00b", None),
        ("GET", "/api/admin/tokens?account=a%00b", None),
        ("POST", "/api/admin/tokens/jd%00x/enable", None),
        ("POST", "/api/admin/accounts", {"name": "a\u0000b"}),
        ("POST", "/api/admin/accounts", {"name": "a\u0007b"}),
        ("POST", "/api/admin/tokens", {"account": "creds", "name": "n\u0000"}),
        ("POST", "/api/admin/accounts/creds/topup", {"amount_yuan": "1", "note": "\u0000"}),
    ],
)
def test_nul_and_control_characters_are_refused_not_stored(
    hostile: LiveServer, method: str, path: str, body: dict[str, str] | None
) -> None:
    """PostgreSQL cannot store NUL; every backend answers 400/404 instead of a 500."""
    if "creds" not in {a["name"] for a in hostile.admin("GET", "/accounts")}:
        hostile.admin("POST", "/accounts", {"name": "creds"})
    response = hostile.http.request(
        method, path, json=body, headers={"X-Admin-Key": hostile.admin_key}
    )
    assert response.status_code in (400, 404), response.text
    assert response.json()["code"] in (400, 404)


@pytest.mark.parametrize(
    "path",
    [
        "/console/tasks?job=j%00x",
        "/console/tasks/t%00x",
        "/console/jobs/j%00x",
        "/console/calls?item=1%00",
        "/api/jd/get-item-detail/v2?itemId=1%00",
        "/api/admin/accounts/a%00b",
    ],
)
def test_nul_in_urls_is_400_on_every_profile(hostile: LiveServer, path: str) -> None:
    response = hostile.http.get(path, headers={"X-Admin-Key": hostile.admin_key})
    assert response.status_code == 400, response.text[:300]
    assert response.json()["code"] == 400
