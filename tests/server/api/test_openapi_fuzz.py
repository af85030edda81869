"""Schemathesis against the live app's OpenAPI document: no server errors, responses
conform to the documented statuses and schemas, and every response is the envelope."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.specs.openapi import checks as openapi_checks

from tests.support.backends import Backend
from tests.support.live_server import LiveServer, live_server

ENVELOPE_KEYS = {"code", "message", "data", "recordTime", "requestId"}


@pytest.fixture(scope="module")
def fuzz_live(backend: Backend) -> Iterator[LiveServer]:
    with backend.database(), live_server() as live:
        yield live


@schemathesis.check
def envelope_everywhere(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """Every answer is the JSON envelope with an X-Request-Id matching its requestId."""
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == ENVELOPE_KEYS, body
    assert isinstance(body["code"], int)
    assert response.headers.get("x-request-id", [None])[0] == body["requestId"]


def _operations(live: LiveServer) -> list[schemathesis.APIOperation]:
    # schemathesis' pytest integration (from_fixture) does not work with pytest 9 yet
    # ("Function object has no attribute _nodeid"), so the test drives hypothesis itself.
    loaded = schemathesis.openapi.from_url(live.base_url + "/openapi.json")
    return [result.ok() for result in loaded.get_all_operations()]


def test_api_conforms(fuzz_live: LiveServer) -> None:
    token = fuzz_live.make_token("fuzz", name="fuzz")
    operations = _operations(fuzz_live)
    assert any(op.path == "/api/jd/get-item-detail/v2" for op in operations)
    for operation in operations:
        headers = {"X-Admin-Key": fuzz_live.admin_key}
        if operation.path.startswith("/api/jd"):
            headers["Authorization"] = f"Bearer {token}"
        _fuzz(operation, fuzz_live.base_url, headers, examples=15)
    codes = dict(fuzz_live.rows("SELECT code, COUNT(*) FROM call_records GROUP BY code"))
    assert codes.get(400, 0) > 0, codes  # the fuzzer reached admission with a valid token


def _fuzz(
    operation: schemathesis.APIOperation, base_url: str, headers: dict[str, str], examples: int
) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        case.validate_response(
            response,
            checks=[
                checks.not_a_server_error,
                openapi_checks.status_code_conformance,
                openapi_checks.content_type_conformance,
                openapi_checks.response_schema_conformance,
                envelope_everywhere,
            ],
        )

    run()


def test_admin_api_conforms_and_keeps_money_in_range() -> None:
    """Schemathesis over the admin API alone, with more examples per operation than the
    whole-API run, with the right key and with wrong ones (401, then 429 once
    throttled): no 500, documented statuses and schemas, the envelope everywhere, and
    afterwards every balance and budget is inside its documented range."""
    from jditem.server.accounts.money import MAX_BALANCE_UNITS, MAX_BUDGET_UNITS

    with live_server(auth_free_failures=1000, auth_global_failures_per_minute=100_000) as live:
        live.make_token("fuzz", name="fuzz")
        operations = [op for op in _operations(live) if op.path.startswith("/api/admin")]
        assert len(operations) >= 8
        for operation in operations:
            for key, examples in ((live.admin_key, 40), ("wrong-key", 5)):
                _fuzz(operation, live.base_url, {"X-Admin-Key": key}, examples)
        balances = [row[0] for row in live.rows("SELECT balance FROM accounts")]
        budgets = [row[0] for row in live.rows("SELECT budget FROM tokens") if row[0] is not None]
        assert all(0 <= b <= MAX_BALANCE_UNITS for b in balances), balances
        assert all(0 <= b <= MAX_BUDGET_UNITS for b in budgets), budgets
