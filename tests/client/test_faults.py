"""The client against a misbehaving server (real HTTP on loopback), on both twins.

Each case gives the documented error or outcome, never hangs past the deadline and
never makes more than ``max_calls_per_item`` calls.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from jditem import AsyncClient, errors
from jditem.client import CallInfo
from tests.client.conftest import SKU, TOKEN, TwinFactory
from tests.support.fault_server import FaultServer, Reply, Reset
from tests.support.processes import free_port
from tests.support.waiting import await_until

PENDING_NOW = {"taskId": "t_1", "itemId": SKU, "taskStatus": "queued", "retryAfter": 0}


async def test_code_as_string_is_understood(
    twin: TwinFactory, product_data: dict[str, Any]
) -> None:
    script = [Reply.envelope("102", PENDING_NOW), Reply.envelope("0", product_data)]
    with FaultServer(script) as server:
        product = await twin(base_url=server.base_url).get(SKU)
        assert product.sku_id == SKU
        assert product.title
        assert len(server.requests) == 2


async def test_code_zero_with_task_status_is_pending(
    twin: TwinFactory, product_data: dict[str, Any]
) -> None:
    disguised = {"status": "processing", "taskId": "t_9"}
    with FaultServer([Reply.envelope(0, disguised), Reply.envelope(0, product_data)]) as server:
        product = await twin(base_url=server.base_url).get(SKU)
        assert product.price.masked is True
        assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        (Reply.text("<html><body>Bad gateway</body></html>", status=502), "not JSON"),
        (Reply.text("<!DOCTYPE html><title>Welcome</title>", status=200), "not JSON"),
        (Reply.text('{"code": 0, "message": "succ', content_type="application/json"), "not JSON"),
        (Reply(200, b""), "empty body"),
        (Reply.json([1, 2, 3]), "JSON list"),
        (Reply.json({"message": "no code here"}), "without a 'code'"),
        (Reply.json({"code": "zero"}), "invalid code"),
    ],
    ids=["html-502", "html-200", "truncated-json", "empty", "json-list", "no-code", "bad-code"],
)
async def test_bodies_that_are_not_envelopes(
    twin: TwinFactory, reply: Reply, fragment: str
) -> None:
    with FaultServer([reply]) as server:
        with pytest.raises(errors.ProtocolError) as caught:
            await twin(base_url=server.base_url).get(SKU)
        assert fragment in str(caught.value)
        assert caught.value.http_status == reply.status
        assert len(server.requests) == 1, "protocol errors are not retried"


async def test_slow_headers_time_out_and_are_not_resent(twin: TwinFactory) -> None:
    """A read timeout is an ambiguous outcome: sent, maybe charged — not resent to a server
    that never said it honours Idempotency-Key (see test_ambiguous for the other side)."""
    with FaultServer([Reply.envelope(0, {}, delay=60.0)]) as server:
        client = twin(base_url=server.base_url, read_timeout=0.2, max_calls_per_item=3)
        started = time.monotonic()
        with pytest.raises(errors.ReadTimeoutError) as caught:
            await client.get(SKU)
        assert time.monotonic() - started < 30, "the call gave up after its read timeout"
        assert caught.value.phase == "read"
        assert "not resent" in str(caught.value)
        # the server thread records a request it reads; the client may give up first
        await await_until(lambda: len(server.requests) >= 1, what="the request recorded")
        assert len(server.requests) == 1


async def test_slow_headers_never_hang_past_the_deadline(twin: TwinFactory) -> None:
    with FaultServer([Reply.envelope(0, {}, delay=60.0)]) as server:
        client = twin(base_url=server.base_url)  # read timeout 120 s: the deadline wins
        started = time.monotonic()
        with pytest.raises(errors.RequestTimeoutError):
            await client.get(SKU, deadline=0.5)
        assert time.monotonic() - started < 30, "far below the 60 s answer and 120 s timeout"


async def test_connection_reset_after_request_is_not_retried(twin: TwinFactory) -> None:
    with FaultServer([Reset()]) as server:
        with pytest.raises(errors.ConnectionLostError) as caught:
            await twin(base_url=server.base_url).get(SKU)
        assert caught.value.retryable is False
        assert "may have been charged" in str(caught.value)
        assert len(server.requests) == 1


async def test_connection_refused_is_retried_then_raised(twin: TwinFactory) -> None:
    port = free_port()  # nothing listens there: connection refused
    calls: list[CallInfo] = []
    client = twin(base_url=f"http://127.0.0.1:{port}", max_calls_per_item=3)
    with pytest.raises(errors.ConnectError) as caught:
        await client.get(SKU, on_call=calls.append)
    assert caught.value.retryable is True
    assert [c.outcome for c in calls] == ["transport_error"] * 3


@pytest.mark.parametrize(
    "data",
    [
        "Please use the Task Management page of the dashboard to submit v2 tasks.",
        None,
        {},
        {"notice": "moved to dashboard"},
    ],
    ids=["instruction-text", "null-data", "empty-object", "object-without-product"],
)
async def test_code_zero_without_product_is_not_serving_data(twin: TwinFactory, data: Any) -> None:
    with FaultServer([Reply.envelope(0, data, message="success")]) as server:
        with pytest.raises(errors.NotServingDataError) as caught:
            await twin(base_url=server.base_url).get(SKU)
        assert "v1" in str(caught.value)
        assert "v3" in str(caught.value)
        assert caught.value.retryable is False
        assert len(server.requests) == 1, "not retried, not polled"


async def test_http_429_without_body_code_is_throttled_then_raised(twin: TwinFactory) -> None:
    reply = Reply(429, b"", {"Retry-After": "0"})
    calls: list[CallInfo] = []
    with FaultServer([reply]) as server:
        with pytest.raises(errors.RateLimitError) as caught:
            await twin(base_url=server.base_url, max_calls_per_item=4).get(
                SKU, on_call=calls.append
            )
        assert caught.value.code is None
        assert caught.value.http_status == 429
        assert len(server.requests) == 4
    assert [c.outcome for c in calls] == ["rate_limited"] * 4
    assert [c.call_number for c in calls] == [1, 2, 3, 4]


async def test_429_then_success(twin: TwinFactory, product_data: dict[str, Any]) -> None:
    script = [
        Reply(429, b"<html>slow down</html>", {"Retry-After": "0"}),
        Reply.envelope(0, product_data),
    ]
    with FaultServer(script) as server:
        product = await twin(base_url=server.base_url).get(SKU)
        assert product.sku_id == SKU
        assert len(server.requests) == 2


async def test_retry_after_above_the_cap_raises_with_the_value(twin: TwinFactory) -> None:
    reply = Reply.envelope(302, None, status=429, headers={"Retry-After": "500"})
    with FaultServer([reply]) as server:
        with pytest.raises(errors.RateLimitError) as caught:
            await twin(base_url=server.base_url).get(SKU)
        assert caught.value.retry_after == 500
        assert "500" in str(caught.value)
        assert len(server.requests) == 1


async def test_503_without_body_is_a_retryable_collection_failure(twin: TwinFactory) -> None:
    with FaultServer([Reply.text("Service Unavailable", status=503)]) as server:
        with pytest.raises(errors.CollectionFailedError) as caught:
            await twin(base_url=server.base_url, max_calls_per_item=2).get(SKU)
        assert caught.value.retryable is True
        assert len(server.requests) == 2


async def test_unknown_code_is_not_retried(twin: TwinFactory) -> None:
    with FaultServer([Reply.envelope(777, None, message="weird")]) as server:
        with pytest.raises(errors.UnknownCodeError) as caught:
            await twin(base_url=server.base_url).get(SKU)
        assert caught.value.code == 777
        assert len(server.requests) == 1


async def test_pending_forever_gives_a_continuation_that_resume_accepts(
    twin: TwinFactory, product_data: dict[str, Any]
) -> None:
    pending = Reply.envelope(102, PENDING_NOW, status=202, request_id="req-p")
    script = [pending, pending, pending, Reply.envelope(0, product_data)]
    with FaultServer(script) as server:
        client = twin(base_url=server.base_url, max_calls_per_item=3)
        with pytest.raises(errors.PendingTimeoutError) as caught:
            await client.get(SKU)
        assert len(server.requests) == 3
        error = caught.value
        assert error.task_id == "t_1"
        assert error.retryable
        data = json.loads(error.continuation)
        assert data["itemId"] == SKU
        assert data["taskId"] == "t_1"
        assert data["calls"] == 3
        assert TOKEN not in error.continuation
        product = await client.resume(error.continuation)
        assert product.sku_id == SKU
        assert len(server.requests) == 4


async def test_resume_takes_the_key_and_the_hooks_of_get(
    twin: TwinFactory, product_data: dict[str, Any]
) -> None:
    """``resume`` carries the ``get``'s ``Idempotency-Key`` (a lost, charged answer is then
    replayed free by a server that honours keys) and runs ``before_call`` before each call."""
    pending = Reply.envelope(102, PENDING_NOW, status=202)
    with FaultServer([pending, pending, Reply.envelope(0, product_data)]) as server:
        client = twin(base_url=server.base_url, max_calls_per_item=1)
        with pytest.raises(errors.PendingTimeoutError) as caught:
            await client.get(SKU, idempotency_key="job-9-0-" + SKU)
        before: list[str] = []
        client = twin(base_url=server.base_url, max_calls_per_item=3)
        product = await client.resume(
            caught.value.continuation, idempotency_key="job-9-0-" + SKU, before_call=before.append
        )
    assert product.sku_id == SKU
    assert before == [SKU, SKU]
    keys = [r.headers.get("idempotency-key") for r in server.requests]
    assert keys == ["job-9-0-" + SKU] * 3


async def test_pending_stops_before_the_deadline(twin: TwinFactory) -> None:
    # The second answer asks to wait 10 s, more than is left of the 8 s deadline, so the
    # client gives up then (a PendingTimeoutError that says so) instead of sleeping into
    # the deadline and failing with a RequestTimeoutError after it. (Only the two calls
    # must fit in the 8 s: no wait of the client's ends near the deadline.)
    script = [
        Reply.envelope(102, PENDING_NOW, status=202),
        Reply.envelope(102, {**PENDING_NOW, "retryAfter": 10}, status=202),
    ]
    with FaultServer(script) as server:
        with pytest.raises(errors.PendingTimeoutError) as caught:
            await twin(base_url=server.base_url, max_calls_per_item=50).get(SKU, deadline=8)
        assert caught.value.retry_after == 10
        assert "would pass the deadline of 8 s" in str(caught.value)
        assert len(server.requests) == 2


async def test_pending_retry_after_above_the_cap_raises_at_once(twin: TwinFactory) -> None:
    reply = Reply.envelope(102, {**PENDING_NOW, "retryAfter": 600}, status=202)
    with FaultServer([reply]) as server:
        with pytest.raises(errors.PendingTimeoutError) as caught:
            await twin(base_url=server.base_url).get(SKU)
        assert caught.value.retry_after == 600
        assert len(server.requests) == 1


async def test_fetch_is_one_call_and_never_raises_on_business_codes(twin: TwinFactory) -> None:
    script = [
        Reply.envelope(102, PENDING_NOW, status=202),
        Reply.envelope(601, None, status=402),
        Reply.envelope(0, "instruction text"),
    ]
    with FaultServer(script) as server:
        client = twin(base_url=server.base_url)
        assert (await client.fetch(SKU)).code == 102
        assert (await client.fetch(SKU)).code == 601
        assert (await client.fetch(SKU)).data == "instruction text"
        assert len(server.requests) == 3


async def test_token_goes_where_auth_says(twin: TwinFactory) -> None:
    with FaultServer([Reply.envelope(202, None)]) as server:
        with pytest.raises(errors.ItemNotSupportedError):
            await twin(base_url=server.base_url).get(SKU)
        with pytest.raises(errors.ItemNotSupportedError):
            await twin(base_url=server.base_url, auth="header").get(SKU)
        query_req, header_req = server.requests
        assert query_req.query == {"token": [TOKEN], "itemId": [SKU]}
        assert "authorization" not in query_req.headers
        assert header_req.query == {"itemId": [SKU]}
        assert header_req.headers["authorization"] == f"Bearer {TOKEN}"
        assert query_req.path == "/api/jd/get-item-detail/v2"


async def test_probe_redacts_and_classifies(twin: TwinFactory) -> None:
    echo = Reply.envelope(100, {"echo": f"token={TOKEN}"}, status=401)
    with FaultServer([echo]) as server:
        result = await twin(base_url=server.base_url).probe(SKU)
        assert result.http_status == 401
        assert result.classified.outcome == "fatal"
        assert TOKEN not in result.body
        assert TOKEN not in result.request_line
        assert "token=***" in result.request_line
        assert "invalid or inactive token" in result.summary


async def test_cancellation_mid_wait_is_prompt() -> None:
    """Cancelling a task that waits out a pending answer ends it at once, cleanly."""
    reply = Reply.envelope(102, {**PENDING_NOW, "retryAfter": 60}, status=202)
    waiting = asyncio.Event()
    with FaultServer([reply]) as server:
        async with AsyncClient(TOKEN, base_url=server.base_url) as client:
            task = asyncio.create_task(
                client.get(SKU, on_call=lambda info: waiting.set(), deadline=120)
            )
            await asyncio.wait_for(waiting.wait(), timeout=30)  # answered, now waiting 60 s
            started = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # Far below the 60 s wait it interrupted, however busy the machine.
            assert time.monotonic() - started < 10
            assert len(server.requests) == 1


async def test_cancellation_mid_call_is_prompt() -> None:
    with FaultServer([Reply.envelope(0, {}, delay=60.0)]) as server:
        async with AsyncClient(TOKEN, base_url=server.base_url) as client:
            task = asyncio.create_task(client.get(SKU))
            await await_until(lambda: server.requests, what="the request reached the server")
            task.cancel()
            started = time.monotonic()
            with pytest.raises(asyncio.CancelledError):
                await task
            # Far below the 60 s the answer would take, however busy the machine.
            assert time.monotonic() - started < 10
