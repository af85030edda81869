"""Redaction: logs (httpx INFO, httpcore DEBUG), error messages, causes, tracebacks."""

from __future__ import annotations

import logging
import traceback

import httpx
import pytest

from jditem import Client, errors
from jditem.client.redaction import RedactingFilter, redact, register_secret, sanitize_exception
from tests.client.conftest import SKU, TOKEN, TwinFactory
from tests.support.fault_server import FaultServer, Reply, Reset


def test_redact_patterns_and_registered_secrets() -> None:
    assert redact("GET /x?token=abc&itemId=1") == "GET /x?token=***&itemId=1"
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    assert redact('{"token": "abc"}') == '{"token": "***"}'
    register_secret("zz-secret-zz")
    assert redact("seen zz-secret-zz and zz%2Dsecret") == "seen *** and zz%2Dsecret"
    assert redact("plain words with tokens") == "plain words with tokens"


def test_filter_masks_args_and_tracebacks() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "url %s", (f"?token={TOKEN}",), None)
    register_secret(TOKEN)
    try:
        raise ValueError(f"boom {TOKEN}")
    except ValueError as exc:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    assert RedactingFilter().filter(record)
    assert TOKEN not in record.getMessage()
    assert TOKEN not in (record.exc_text or "")


async def test_httpx_and_httpcore_logs_are_redacted(
    twin: TwinFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The check is not vacuous: httpx really logs the URL, and it arrives masked."""
    with (
        FaultServer([Reply.envelope(202, None)]) as server,
        pytest.raises(errors.ItemNotSupportedError),
    ):
        await twin(base_url=server.base_url).get(SKU)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("HTTP Request") and "token=***" in m for m in messages)
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    assert all(TOKEN not in m for m in messages)


async def test_errors_and_chained_causes_hold_no_token(twin: TwinFactory) -> None:
    with FaultServer([Reset()]) as server, pytest.raises(errors.ConnectionLostError) as caught:
        await twin(base_url=server.base_url).get(SKU)
    error = caught.value
    assert error.__cause__ is not None
    assert error.__suppress_context__
    text = "".join(traceback.format_exception(error))
    assert "ConnectionLostError" in text
    assert TOKEN not in text


def test_sanitize_exception_keeps_type_and_drops_request() -> None:
    request = httpx.Request("GET", f"https://x.example/?token={TOKEN}")
    original = httpx.ReadTimeout(f"timed out for {request.url}", request=request)
    clean = sanitize_exception(original)
    assert type(clean) is httpx.ReadTimeout
    assert TOKEN not in str(clean)
    with pytest.raises(RuntimeError):
        clean.request  # noqa: B018 - the copy holds no request


def test_client_logs_debug_without_token(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": 400, "message": f"bad token={TOKEN}"})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    with (
        Client(TOKEN, http_client=http) as client,
        pytest.raises(errors.InvalidParametersError) as caught,
    ):
        client.get(SKU)
    assert TOKEN not in str(caught.value)
    assert "token=***" in str(caught.value)
    http.close()
