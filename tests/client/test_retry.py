"""Retry/poll decisions of :class:`Attempts` with a fake clock (no I/O, no sleeping)."""

from __future__ import annotations

import json

import pytest

from jditem import errors
from jditem.client.base import BaseClient
from jditem.client.calls import Classified
from jditem.client.config import ClientConfig
from jditem.client.retry import Attempts, full_jitter, parse_continuation
from tests.client.conftest import SKU, TOKEN


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def classify(code: int, data: object = None, headers: dict[str, str] | None = None) -> Classified:
    base = BaseClient(ClientConfig.build(TOKEN))
    body = json.dumps({"code": code, "data": data, "requestId": "r"}).encode()
    return base.classify_response(SKU, 200, headers or {}, body)


def attempts(clock: FakeClock, **options: object) -> Attempts:
    config = ClientConfig.build(TOKEN, **options)  # type: ignore[arg-type]
    return Attempts(config, SKU, clock=clock, rng=lambda: 1.0)


def test_full_jitter_bounds() -> None:
    assert full_jitter(0, base=0.5, cap=30, rng=lambda: 1.0) == 0.5
    assert full_jitter(3, base=0.5, cap=30, rng=lambda: 1.0) == 4.0
    assert full_jitter(50, base=0.5, cap=30, rng=lambda: 1.0) == 30
    assert full_jitter(3, base=0.5, cap=30, rng=lambda: 0.0) == 0.0


@pytest.mark.parametrize("code", [100, 202, 303, 400, 600, 601, 602])
def test_never_retried(code: int) -> None:
    a = attempts(FakeClock())
    c = classify(code)
    a.record(c)
    with pytest.raises(errors.APIError) as caught:
        a.next_wait(c)
    assert caught.value.code == code


def test_backoff_grows_for_retryable_errors() -> None:
    a = attempts(FakeClock(), backoff_base=1, backoff_max=10, max_calls_per_item=10)
    waits = []
    for _ in range(5):
        c = classify(500)
        a.record(c)
        waits.append(a.next_wait(c))
    assert waits == [1, 2, 4, 8, 10]


def test_pending_uses_retry_after_and_counts_calls() -> None:
    clock = FakeClock()
    a = attempts(clock, max_calls_per_item=3)
    c = classify(102, {"taskId": "t", "taskStatus": "queued", "retryAfter": 5})
    for _ in range(2):
        a.record(c)
        assert a.next_wait(c) == 5
        clock.now += 5
    a.record(c)
    with pytest.raises(errors.PendingTimeoutError) as caught:
        a.next_wait(c)
    data = parse_continuation(caught.value)
    assert data["calls"] == 3
    assert data["taskId"] == "t"
    assert data["itemId"] == SKU


def test_deadline_limits_waits_and_calls() -> None:
    clock = FakeClock()
    a = attempts(clock, deadline=10)
    c = classify(302, headers={"retry-after": "4"})
    a.record(c)
    assert a.next_wait(c) == 4
    clock.now += 7
    a.record(c)
    with pytest.raises(errors.RateLimitError, match="deadline"):
        a.next_wait(c)
    clock.now += 4
    with pytest.raises(errors.RequestTimeoutError) as caught:
        a.call_timeout()
    assert caught.value.phase == "deadline"


def test_call_timeout_is_the_remaining_deadline() -> None:
    clock = FakeClock()
    a = attempts(clock, deadline=10)
    clock.now += 4
    assert a.call_timeout() == pytest.approx(6)


def test_bad_continuations() -> None:
    for bad in ("", "{}", "[1]", '{"v": 1}', "not json"):
        with pytest.raises(errors.ConfigurationError, match="continuation"):
            parse_continuation(bad)
