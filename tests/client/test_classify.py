"""Response classification (SPEC §4) through :class:`BaseClient`, no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from jditem import Client, errors
from jditem.client.base import BaseClient
from jditem.client.calls import Outcome
from jditem.client.classify import parse_retry_after
from jditem.client.config import ClientConfig
from jditem.client.retry import Attempts
from tests.client.conftest import SKU, TOKEN


@pytest.fixture
def base() -> BaseClient:
    return BaseClient(ClientConfig.build(TOKEN, pending_codes=[909]))


def envelope(code: Any, data: Any = None, **extra: Any) -> bytes:
    return json.dumps(
        {"code": code, "message": "m", "data": data, "requestId": "r1", **extra}
    ).encode()


@pytest.mark.parametrize(
    ("code", "status", "error_cls", "outcome", "retryable", "fatal"),
    [
        (100, 401, errors.InvalidTokenError, Outcome.FATAL, False, True),
        (202, 200, errors.ItemNotSupportedError, Outcome.NOT_SUPPORTED, False, False),
        (301, 503, errors.CollectionFailedError, Outcome.RETRYABLE_ERROR, True, False),
        (302, 429, errors.RateLimitError, Outcome.RATE_LIMITED, True, False),
        (303, 429, errors.QuotaExceededError, Outcome.FATAL, False, True),
        (400, 400, errors.InvalidParametersError, Outcome.ERROR, False, False),
        (404, 404, errors.EndpointNotFoundError, Outcome.ERROR, False, False),
        (500, 500, errors.InternalServerError, Outcome.RETRYABLE_ERROR, True, False),
        (600, 403, errors.PermissionDeniedError, Outcome.FATAL, False, True),
        (601, 402, errors.InsufficientBalanceError, Outcome.FATAL, False, True),
        (602, 402, errors.BudgetExhaustedError, Outcome.FATAL, False, True),
        (777, 200, errors.UnknownCodeError, Outcome.ERROR, False, False),
    ],
)
@pytest.mark.parametrize("mode", ["mapped", "always-200"])
def test_codes_map_to_typed_errors(
    base: BaseClient,
    code: int,
    status: int,
    error_cls: type[errors.APIError],
    outcome: Outcome,
    retryable: bool,
    fatal: bool,
    mode: str,
) -> None:
    http = status if mode == "mapped" else 200
    c = base.classify_response(SKU, http, {"x-request-id": "hdr"}, envelope(code))
    assert c.outcome is outcome
    assert type(c.error) is error_cls
    assert c.error is not None
    assert (c.error.code, c.error.http_status, c.error.request_id) == (code, http, "r1")
    assert c.error.item_id == SKU
    assert c.error.retryable is retryable
    assert isinstance(c.error, errors.FatalError) is fatal
    assert isinstance(c.error, errors.JditemError)


def test_quota_error_carries_reset_at(base: BaseClient) -> None:
    body = envelope(303, {"resetAt": "2026-11-29T00:00:00+08:00"})
    c = base.classify_response(SKU, 429, {}, body)
    assert isinstance(c.error, errors.QuotaExceededError)
    assert c.error.reset_at == datetime.fromisoformat("2026-11-29T00:00:00+08:00")
    assert "2026-11-29" in str(c.error)


def test_rate_limit_reads_retry_after_header(base: BaseClient) -> None:
    c = base.classify_response(SKU, 429, {"retry-after": "7"}, envelope(302))
    assert isinstance(c.error, errors.RateLimitError)
    assert c.error.retry_after == 7
    assert c.retry_after == 7


@pytest.mark.parametrize(
    ("status", "cls"), [(429, errors.RateLimitError), (503, errors.CollectionFailedError)]
)
def test_status_fallback_without_body_code(base: BaseClient, status: int, cls: type) -> None:
    c = base.classify_response(SKU, status, {}, b"<html>busy</html>")
    assert type(c.error) is cls
    assert c.error.code is None
    assert c.retryable


def test_pending_codes(base: BaseClient) -> None:
    pending = {"taskId": "t", "taskStatus": "running", "retryAfter": "4"}
    c = base.classify_response(SKU, 202, {"retry-after": "9"}, envelope("102", pending))
    assert c.outcome is Outcome.PENDING
    assert c.retry_after == 4
    assert c.task_id == "t"
    c = base.classify_response(
        SKU, 202, {"retry-after": "9"}, envelope(102, {"taskStatus": "queued"})
    )
    assert c.retry_after == 9, "header used when the body has no retryAfter"
    c = base.classify_response(SKU, 200, {}, envelope(909, None))
    assert c.outcome is Outcome.PENDING, "configured extra pending code"
    assert c.retry_after is None


def test_ready(base: BaseClient, product_data: dict[str, Any]) -> None:
    c = base.classify_response(SKU, 200, {}, envelope(0, product_data))
    assert c.outcome is Outcome.READY
    assert c.error is None
    product = base.product(c, SKU)
    assert product.sku_id == SKU
    assert product.raw == product_data


def test_product_with_task_status_keys_is_still_ready(
    base: BaseClient, product_data: dict[str, Any]
) -> None:
    c = base.classify_response(SKU, 200, {}, envelope(0, {**product_data, "status": "running"}))
    assert c.outcome is Outcome.READY


def test_protocol_error_redacts_body(base: BaseClient) -> None:
    c = base.classify_response(SKU, 500, {}, f"<html>bad request ?token={TOKEN}</html>".encode())
    assert isinstance(c.error, errors.ProtocolError)
    assert TOKEN not in str(c.error)
    assert TOKEN not in c.error.body_start


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3
    assert parse_retry_after(2.5) == 2.5
    assert parse_retry_after("-4") == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    future = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    parsed = parse_retry_after(future)
    assert parsed is not None
    assert 25 < parsed <= 30


def test_mock_transport_fetch_and_get(product_data: dict[str, Any]) -> None:
    """The sync client over httpx.MockTransport: request shape and result."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": 0, "data": product_data, "requestId": "x"})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    with Client(TOKEN, http_client=http, base_url="https://jd.example") as client:
        assert client.fetch(SKU).code == 0
        product = client.get(SKU)
    assert product.title
    assert str(seen[0].url).startswith("https://jd.example/api/jd/get-item-detail/v2?")
    assert seen[0].url.params["itemId"] == SKU
    assert seen[0].headers["user-agent"].startswith("jditem/")
    assert not http.is_closed, "a passed-in http client is not closed"
    http.close()


def test_a_message_says_each_thing_once(base: BaseClient) -> None:
    """The server's 202 message repeats the client's meaning and advice: said once."""
    server = (
        "item 1 not supported or not found on JD (item 1 is not supported by the sandbox "
        "catalog (listed in sandbox_unsupported_ids); retrying will not help); retrying "
        "will not help"
    )
    body = json.dumps({"code": 202, "message": server, "data": None}).encode()
    error = base.classify_response(SKU, 200, {}, body).error
    assert isinstance(error, errors.ItemNotSupportedError)
    assert str(error).count("retrying will not help") == 1
    assert "sandbox_unsupported_ids" in str(error)
    assert "drop this item" in str(error)


def test_an_idempotent_replay_is_marked(base: BaseClient, product_data: dict[str, Any]) -> None:
    body = envelope(0, product_data)
    assert not base.classify_response(SKU, 200, {}, body).replayed
    replay = base.classify_response(SKU, 200, {"idempotent-replayed": "true"}, body)
    assert replay.outcome is Outcome.READY
    assert replay.replayed


def test_a_server_message_repeating_the_meaning_keeps_no_stray_colon(base: BaseClient) -> None:
    """Main said ``(server said: ': itemId must be…')`` (issue 18 item 8)."""
    body = json.dumps(
        {"code": 400, "message": "invalid parameters: itemId must be 1-20 ASCII digits"}
    ).encode()
    c = base.classify_response(SKU, 400, {}, body)
    assert c.error is not None
    assert "(server said: 'itemId must be 1-20 ASCII digits')" in str(c.error)
    assert "': " not in str(c.error)


def test_whether_a_call_may_have_been_charged(
    base: BaseClient, product_data: dict[str, Any]
) -> None:
    """One public rule (``CallInfo.charged`` / ``possibly_charged``, and the error's
    ``possibly_charged``): code 0 with data is charged unless it is a free replay; a call
    sent without a complete answer may have been; anything else charges nothing."""

    def info(classified: Any) -> Any:
        return Attempts(base.config, SKU).record(classified)

    ready = info(base.classify_response(SKU, 200, {}, envelope(0, product_data)))
    assert (ready.charged, ready.possibly_charged) == (True, True)
    replay = base.classify_response(
        SKU, 200, {"idempotent-replayed": "true"}, envelope(0, product_data)
    )
    assert (info(replay).charged, info(replay).possibly_charged) == (False, False)
    for exc in (httpx.ReadTimeout("slow"), httpx.ReadError("reset")):
        lost = base.classify_exception(SKU, exc)
        assert lost.error is not None
        assert lost.error.possibly_charged
        assert (info(lost).charged, info(lost).possibly_charged) == (False, True)
    truncated = base.classify_response(SKU, 200, {}, b'{"code": 0, "da')
    assert info(truncated).possibly_charged
    for classified in (
        base.classify_exception(SKU, httpx.ConnectError("refused")),
        base.classify_exception(SKU, httpx.ConnectTimeout("no route")),
        base.classify_response(SKU, 429, {}, b""),
        base.classify_response(SKU, 200, {}, envelope(102, {"taskId": "t"})),
        base.classify_response(SKU, 200, {}, envelope(301)),
    ):
        assert not info(classified).possibly_charged, classified
        assert classified.error is None or not classified.error.possibly_charged
