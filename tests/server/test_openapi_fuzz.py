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

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            headers = {"X-Admin-Key": fuzz_live.admin_key}
            if case.path.startswith("/api/jd"):
                headers["Authorization"] = f"Bearer {token}"
            response = case.call(base_url=fuzz_live.base_url, headers=headers, timeout=30)
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
    codes = dict(fuzz_live.rows("SELECT code, COUNT(*) FROM call_records GROUP BY code"))
    assert codes.get(400, 0) > 0, codes  # the fuzzer reached admission with a valid token
