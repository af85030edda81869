"""The I/O-free ``get`` flow (``GetFlow``): driven by hand, with a fake clock, no sleeping.

Each test steps the generator itself — the same steps both twins drive — so the
orchestration (polls, retries, hooks, deadline, resume checks, logging) is tested once,
without any transport.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from jditem import AsyncClient, Client, errors
from jditem.client.base import BaseClient
from jditem.client.calls import Classified
from jditem.client.config import ClientConfig
from jditem.client.flow import (
    AfterCall,
    BeforeCall,
    GetFlow,
    Send,
    Sleep,
    normalize_item_id,
)

from .conftest import SKU, TOKEN


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def base(**options: Any) -> BaseClient:
    return BaseClient(ClientConfig.build(TOKEN, base_url="http://127.0.0.1:9", **options))


def answer(core: BaseClient, code: int, data: Any = None, **headers: str) -> Classified:
    body = httpx.Response(200, json={"code": code, "message": "m", "data": data}).content
    return core.classify_response(SKU, 200, headers, body)


def run(flow: GetFlow, answers: list[Classified], clock: FakeClock) -> tuple[Any, list[Any]]:
    """Drive ``flow`` like a twin would; returns (product or raised error, steps seen)."""
    steps = flow.steps()
    seen: list[Any] = []
    reply: Classified | None = None
    try:
        step = next(steps)
        while True:
            seen.append(step)
            reply = None
            if isinstance(step, Send):
                reply = answers.pop(0)
            elif isinstance(step, Sleep):
                clock.now += step.seconds
            step = steps.send(reply)
    except StopIteration as stop:
        return stop.value, seen
    except errors.JditemError as exc:
        return exc, seen


def kinds(seen: list[Any]) -> list[str]:
    return [type(step).__name__ for step in seen]


def test_pending_then_ready_polls_after_retry_after(product_data: dict[str, Any]) -> None:
    core, clock = base(), FakeClock()
    flow = GetFlow(core, SKU, clock=clock)
    pending = answer(core, 102, {"taskStatus": "queued", "retryAfter": 3, "taskId": "t1"})
    product, seen = run(flow, [pending, answer(core, 0, product_data)], clock)
    assert product.sku_id == SKU
    assert kinds(seen) == [
        "BeforeCall",
        "Send",
        "AfterCall",
        "Sleep",
        "BeforeCall",
        "Send",
        "AfterCall",
    ]
    assert seen[3].seconds == 3
    assert [s.info.call_number for s in seen if isinstance(s, AfterCall)] == [1, 2]


def test_send_step_carries_the_request_and_a_deadline_bounded_timeout() -> None:
    core, clock = base(), FakeClock()
    flow = GetFlow(core, SKU, deadline=5, idempotency_key="job-1", clock=clock)
    steps = flow.steps()
    assert isinstance(next(steps), BeforeCall)
    send = steps.send(None)
    assert isinstance(send, Send)
    assert send.url.endswith("/api/jd/get-item-detail/v2")
    assert send.params["itemId"] == SKU
    assert send.headers["Idempotency-Key"] == "job-1"
    assert send.timeout.read == 5
    steps.close()


def test_deadline_passing_while_before_call_waits_raises_before_sending() -> None:
    core, clock = base(), FakeClock()
    steps = GetFlow(core, SKU, deadline=2, clock=clock).steps()
    assert isinstance(next(steps), BeforeCall)
    clock.now += 5  # e.g. the batch's rate limiter held the call back
    with pytest.raises(errors.RequestTimeoutError, match="deadline of 2 s"):
        steps.send(None)


def test_not_serving_data_is_one_decision_point(product_data: dict[str, Any]) -> None:
    """Overriding ``GetFlow.not_serving`` is enough to change what happens."""
    core, clock = base(), FakeClock()
    instruction = answer(core, 0, "use the v1 endpoint")
    error, seen = run(GetFlow(core, SKU, clock=clock), [instruction], clock)
    assert isinstance(error, errors.NotServingDataError)
    assert kinds(seen) == ["BeforeCall", "Send", "AfterCall"]

    class FallBack(GetFlow):
        """What an opt-in endpoint fallback does: switch endpoint, call again."""

        def not_serving(self, classified: Classified) -> bool:
            if self.base.config.endpoint != "v2":
                return super().not_serving(classified)
            self.base = BaseClient(self.base.config.replace(endpoint="v1"))
            return True

    v1_product = answer(core, 0, product_data)
    product, seen = run(FallBack(core, SKU, clock=clock), [instruction, v1_product], clock)
    assert product.sku_id == SKU
    sends = [step for step in seen if isinstance(step, Send)]
    assert [s.url.rsplit("/", 1)[1] for s in sends] == ["v2", "v1"]
    assert "Sleep" not in kinds(seen)


def test_waits_are_logged_at_info_once_each(caplog: pytest.LogCaptureFixture) -> None:
    core, clock = base(max_calls_per_item=3), FakeClock()
    caplog.set_level(logging.INFO, logger="jditem")
    throttled = answer(core, 302, None, **{"retry-after": "4"})
    failed = answer(core, 301)
    flow = GetFlow(core, SKU, clock=clock, rng=lambda: 0.5)
    error, _ = run(flow, [throttled, failed, failed], clock)
    assert isinstance(error, errors.CollectionFailedError)
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 3
    assert infos[0].startswith(f"item {SKU}: call 1 answered HTTP 200 code 302 (rate_limited)")
    assert "retrying in 4.0 s (Retry-After), call 2 of at most 3" in infos[0]
    assert "code 301 (retryable_error); retrying in 0.5 s (backoff)" in infos[1]
    assert infos[2].endswith("code 301 (retryable_error); giving up")
    assert all(r.name == "jditem.client" for r in caplog.records)


def test_give_up_message_is_not_repeated() -> None:
    core, clock = base(max_calls_per_item=2), FakeClock()
    error, _ = run(GetFlow(core, SKU, clock=clock), [answer(core, 301), answer(core, 301)], clock)
    assert isinstance(error, errors.CollectionFailedError)
    assert str(error).count("gave up") == 1
    assert str(error).count("retry this item later") == 1


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("100012043978", "100012043978"),
        (100012043978, "100012043978"),
        (" https://item.jd.com/100012043978.html ", "100012043978"),
        ("item.m.jd.com/product/100012043978.html?x=1", "100012043978"),
        ("12ab", "12ab"),  # sent as is: the server answers 400
    ],
)
def test_item_ids_and_jd_urls(given: Any, expected: str) -> None:
    assert normalize_item_id(given) == expected


@pytest.mark.parametrize("given", ["https://example.com/1.html", "https://item.jd.com/", 1.5])
def test_other_urls_and_types_are_refused_without_a_call(given: Any) -> None:
    with pytest.raises(errors.ConfigurationError, match="JD item URL"):
        normalize_item_id(given)


async def test_both_twins_accept_a_jd_url(product_data: dict[str, Any]) -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["itemId"])
        return httpx.Response(200, json={"code": 0, "data": product_data})

    url = f"https://item.jd.com/{SKU}.html"
    transport = httpx.MockTransport(handler)
    with Client(TOKEN, http_client=httpx.Client(transport=transport)) as client:
        assert client.get(url).sku_id == SKU
    async with AsyncClient(TOKEN, http_client=httpx.AsyncClient(transport=transport)) as aclient:
        assert (await aclient.get(url)).sku_id == SKU
    assert asked == [SKU, SKU]


def test_resume_refuses_a_continuation_for_another_server() -> None:
    core, clock = base(max_calls_per_item=1), FakeClock()
    pending = answer(core, 102, {"taskStatus": "queued", "retryAfter": 1})
    error, _ = run(GetFlow(core, SKU, clock=clock), [pending], clock)
    assert isinstance(error, errors.PendingTimeoutError)
    assert GetFlow.resume(core, error).item_id == SKU
    other = BaseClient(ClientConfig.build(TOKEN, base_url="http://127.0.0.1:10"))
    with pytest.raises(errors.ConfigurationError, match="with_options"):
        GetFlow.resume(other, error)
