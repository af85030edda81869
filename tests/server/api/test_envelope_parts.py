"""The envelope's parts built without Starlette's per-call machinery are what it builds:
``envelope_response``'s raw headers are ``Response(...)``'s, ``_json`` is
``json.dumps``'s, and the v2 query parsing is ``parse_qsl``'s."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import pytest
from starlette.responses import Response

from jditem.protocol.codes import Code
from jditem.server.api.envelope import JSON_MEDIA_TYPE, _json, envelope_response
from jditem.server.api.v2 import query_pairs
from jditem.server.settings import Settings


def _clock() -> datetime:
    return datetime(2026, 12, 6, 15, 0, 0, 123_456, tzinfo=UTC)


@pytest.mark.parametrize("mode", ["mapped", "always-200"])
@pytest.mark.parametrize(
    ("code", "headers", "status"),
    [
        (Code.SUCCESS, {"Idempotency-Key-Honoured": "ttl=86400"}, None),
        (Code.SUCCESS, {"Idempotency-Key-Honoured": "ttl=5", "Idempotent-Replayed": "true"}, None),
        (Code.RATE_LIMITED, {"Retry-After": "3"}, None),
        (Code.INVALID_PARAMS, None, 405),
        (Code.INTERNAL_ERROR, {}, None),
        (Code.SUCCESS, {"Content-Type": "application/problem+json"}, None),
        (Code.SUCCESS, {"content-length": "7"}, 204),
    ],
)
def test_raw_headers_are_starlettes(
    mode: str, code: Code, headers: dict[str, str] | None, status: int | None
) -> None:
    settings = Settings(http_status_mode=mode)  # type: ignore[arg-type]
    response = envelope_response(
        settings, _clock, "01JD", code, message="ünïcode ✓", headers=headers, status_code=status
    )
    starlette = Response(
        response.body,
        status_code=response.status_code,
        headers={"X-Request-Id": "01JD", **(headers or {})},
        media_type=JSON_MEDIA_TYPE,
    )
    assert response.raw_headers == starlette.raw_headers
    assert response.headers["x-request-id"] == "01JD"
    assert json.loads(response.body)["recordTime"] == "2026-12-06T23:00:00.123+08:00"


@pytest.mark.parametrize(
    "value", ["success", 'ünïcode ✓ "quoted" \\ \n', None, {"a": [1, 2.5, True]}, "😀"]
)
def test_json_is_json_dumps(value: object) -> None:
    expected = json.dumps(
        value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode()
    assert _json(value) == expected
    with pytest.raises(ValueError, match="Out of range"):
        _json(float("nan"))


def test_query_pairs_are_parse_qsl() -> None:
    fixed = [
        "",
        "itemId=1",
        "itemId=1&token=jd_x",
        "itemId=&token",
        "a=b=c&&=x&itemId=1&itemId=2&",
        "itemId=1%00",
        "token=a+b&itemId=%31",
        ";itemId=1;x",
    ]
    rng = random.Random(22)
    alphabet = "ab=&%+;1 2F"
    fuzzed = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(12))) for _ in range(3000)]
    for query in fixed + fuzzed:
        assert query_pairs(query) == parse_qsl(query, keep_blank_values=True), query
