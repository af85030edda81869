"""The client keeps its token out of logs (httpx INFO, httpcore DEBUG), error messages,
causes and tracebacks (the engine: ``tests/test_redaction.py``)."""

from __future__ import annotations

import traceback

import httpx
import pytest

from jditem import Client, errors
from tests.client.conftest import SKU, TOKEN, TwinFactory
from tests.support.fault_server import FaultServer, Reply, Reset


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
