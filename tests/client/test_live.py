"""The client against the real embedded server on 127.0.0.1 (real SQLite), on both twins.

One server per configuration (module scope); each test makes its own tokens. The only
test double is a Collector (the server's pluggable seam) that fails on purpose.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from jditem import errors
from jditem.client import CallInfo
from jditem.server.collectors import CollectError, CollectResult
from jditem.server.collectors.catalog import build_payload
from tests.client.conftest import TwinFactory
from tests.support.live_server import LiveServer, live_server
from tests.support.waiting import await_until

ITEM = "100012043978"
UNSUPPORTED = "100000000202"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server(sandbox_unsupported_ids=[UNSUPPORTED]) as live:
        yield live


async def test_ready(server: LiveServer, twin: TwinFactory) -> None:
    calls: list[CallInfo] = []
    client = twin(token=server.make_token(), base_url=server.base_url)
    product = await client.get(ITEM, on_call=calls.append)
    assert product.sku_id == ITEM
    assert product.title
    assert product.url.endswith(f"{ITEM}.html")
    assert [c.outcome for c in calls] == ["ready"]
    assert calls[0].code == 0
    assert calls[0].request_id


async def test_header_auth_and_fetch(server: LiveServer, twin: TwinFactory) -> None:
    client = twin(token=server.make_token(), base_url=server.base_url, auth="header")
    envelope = await client.fetch(ITEM)
    assert envelope.code == 0
    assert envelope.request_id


async def test_not_supported(server: LiveServer, twin: TwinFactory) -> None:
    client = twin(token=server.make_token(), base_url=server.base_url)
    with pytest.raises(errors.ItemNotSupportedError) as caught:
        await client.get(UNSUPPORTED)
    assert caught.value.code == 202
    assert not caught.value.retryable


async def test_rate_limited_then_success(server: LiveServer, twin: TwinFactory) -> None:
    token = server.make_token(rate=1, burst=1)
    client = twin(token=token, base_url=server.base_url)
    assert (await client.fetch(ITEM)).code == 0  # uses the burst
    calls: list[CallInfo] = []
    started = time.monotonic()
    product = await client.get(ITEM, on_call=calls.append)
    assert product.sku_id == ITEM
    assert [c.outcome for c in calls] == ["rate_limited", "ready"]
    assert calls[0].http_status == 429
    assert calls[0].retry_after is not None
    assert calls[0].retry_after > 0
    assert time.monotonic() - started >= calls[0].retry_after * 0.9, "Retry-After honoured"


async def test_quota_exceeded(server: LiveServer, twin: TwinFactory) -> None:
    client = twin(token=server.make_token(daily_quota=1), base_url=server.base_url)
    assert (await client.fetch(ITEM)).code == 0
    with pytest.raises(errors.QuotaExceededError) as caught:
        await client.get(ITEM)
    assert isinstance(caught.value, errors.FatalError)
    assert caught.value.reset_at is not None
    assert caught.value.http_status == 429


@pytest.mark.parametrize(
    ("token_kwargs", "error_cls", "code"),
    [
        ({"permissions": ["jd/other-endpoint/v1"]}, errors.PermissionDeniedError, 600),
        ({"account": "poor", "balance_yuan": "0"}, errors.InsufficientBalanceError, 601),
        ({"budget_yuan": "0"}, errors.BudgetExhaustedError, 602),
    ],
    ids=["600", "601", "602"],
)
async def test_fatal_codes(
    server: LiveServer,
    twin: TwinFactory,
    token_kwargs: dict[str, Any],
    error_cls: type[errors.FatalError],
    code: int,
) -> None:
    calls: list[CallInfo] = []
    client = twin(token=server.make_token(**token_kwargs), base_url=server.base_url)
    with pytest.raises(error_cls) as caught:
        await client.get(ITEM, on_call=calls.append)
    assert caught.value.code == code
    assert caught.value.request_id
    assert len(calls) == 1, "fatal codes are never retried"


async def test_invalid_token(server: LiveServer, twin: TwinFactory) -> None:
    client = twin(token="jdi_not_a_real_token_0000", base_url=server.base_url)
    with pytest.raises(errors.InvalidTokenError) as caught:
        await client.get(ITEM)
    assert caught.value.http_status == 401


async def test_invalid_parameters(server: LiveServer, twin: TwinFactory) -> None:
    client = twin(token=server.make_token(), base_url=server.base_url)
    with pytest.raises(errors.InvalidParametersError) as caught:
        await client.get("12ab")
    assert caught.value.code == 400


async def test_unknown_path_is_endpoint_not_found(server: LiveServer, twin: TwinFactory) -> None:
    client = twin(token=server.make_token(), base_url=server.base_url + "/nope")
    with pytest.raises(errors.EndpointNotFoundError):
        await client.get(ITEM)


async def test_always_200_mode_reads_the_body_code(twin: TwinFactory) -> None:
    with live_server(http_status_mode="always-200") as live:
        client = twin(token=live.make_token(budget_yuan="0"), base_url=live.base_url)
        with pytest.raises(errors.BudgetExhaustedError) as caught:
            await client.get(ITEM)
        assert caught.value.http_status == 200


async def test_pending_then_ready(twin: TwinFactory) -> None:
    with live_server(
        wait_seconds=0.05, sandbox_latency_ms=(300, 400), retry_after_seconds=1
    ) as live:
        calls: list[CallInfo] = []
        client = twin(token=live.make_token(), base_url=live.base_url)
        product = await client.get(ITEM, on_call=calls.append)
        assert product.sku_id == ITEM
        outcomes = [c.outcome for c in calls]
        # Usually ["pending", "ready"]; a busy machine may need another poll.
        assert outcomes[-1] == "ready"
        assert outcomes[:-1] == ["pending"] * (len(outcomes) - 1)
        assert len(outcomes) >= 2
        assert calls[0].code == 102
        assert calls[0].retry_after == 1
        tasks = live.scalar("SELECT COUNT(*) FROM tasks WHERE item_id = :i", i=ITEM)
        assert tasks == 1, "the second call attached to the same task"


async def test_pending_timeout_then_resume(twin: TwinFactory) -> None:
    with live_server(
        wait_seconds=0.05, sandbox_latency_ms=(600, 700), retry_after_seconds=1
    ) as live:
        client = twin(token=live.make_token(), base_url=live.base_url, max_calls_per_item=1)
        with pytest.raises(errors.PendingTimeoutError) as caught:
            await client.get(ITEM)
        assert caught.value.task_id
        await await_until(
            lambda: (
                live.scalar("SELECT status FROM tasks WHERE item_id = :i", i=ITEM) == "succeeded"
            ),
            what="the server task finished",
        )
        product = await client.resume(caught.value.continuation)
        assert product.sku_id == ITEM


class FailOnceCollector:
    """Fails the first collection of each item (transiently), then succeeds."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    async def collect(self, item_id: str) -> CollectResult:
        if item_id not in self.seen:
            self.seen.add(item_id)
            raise CollectError("scripted transient failure")
        return CollectResult.ok(build_payload(item_id))


async def test_collection_failed_then_success(twin: TwinFactory) -> None:
    with live_server(collector=FailOnceCollector(), max_attempts=1) as live:
        calls: list[CallInfo] = []
        client = twin(token=live.make_token(), base_url=live.base_url)
        product = await client.get(ITEM, on_call=calls.append)
        assert product.sku_id == ITEM
        assert [c.code for c in calls] == [301, 0]
        assert calls[0].http_status == 503


async def test_internal_error_is_retried_then_raised(twin: TwinFactory) -> None:
    with live_server() as live:
        token = live.make_token()
        live.execute("DROP TABLE ledger")  # charging a success now fails inside the server
        calls: list[CallInfo] = []
        client = twin(token=token, base_url=live.base_url, max_calls_per_item=2)
        with pytest.raises(errors.InternalServerError) as caught:
            await client.get(ITEM, on_call=calls.append)
        assert caught.value.retryable
        assert [c.code for c in calls] == [500, 500]
        assert "2 call(s)" in str(caught.value)
