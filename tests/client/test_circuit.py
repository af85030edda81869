"""A 503 naming an open upstream circuit (SPEC §5), and Retry-After above the cap.

The wire shape of a jditem gateway whose upstream refuses it: envelope code 503,
``data = {"retryAfter": int, "circuit": "open" | "probe_due", "upstreamCode": int | null}``
and a ``Retry-After`` header. ``get`` retries it at most once; ``get_many`` / a batch
pauses as a whole and probes with one item, then resumes at full concurrency. A
``Retry-After`` above 120 s is an error carrying the value — in ``get``, ``get_many`` and
the batch alike. Real HTTP on loopback throughout.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from jditem import AsyncClient, errors
from jditem.client.many import ManyRun
from tests.client.conftest import SKU, TOKEN, TwinFactory, record_raised
from tests.support.fake_vendor import Answer, FakeVendor
from tests.support.fault_server import FaultServer, Reply
from tests.support.waiting import await_until


def circuit_503(retry_after: int = 0, state: str = "open", upstream: int | None = 601) -> Reply:
    data = {"retryAfter": retry_after, "circuit": state, "upstreamCode": upstream}
    return Reply.envelope(
        503,
        data,
        status=503,
        message="the upstream refuses this gateway (upstream code 601)",
        headers={"Retry-After": str(retry_after)},
    )


async def test_get_retries_a_circuit_503_once(twin: TwinFactory) -> None:
    """Six retries behind an open circuit would wait out minutes per item: one only."""
    with FaultServer([circuit_503(), circuit_503(state="probe_due")]) as server:
        with pytest.raises(errors.ServiceUnavailableError) as caught:
            await twin(base_url=server.base_url, max_calls_per_item=6).get(SKU)
        assert len(server.requests) == 2
    error = caught.value
    assert (error.circuit, error.upstream_code, error.retry_after) == ("probe_due", 601, 0)
    assert "still open after one retry" in str(error)
    assert "upstream code 601" in str(error)


async def test_get_succeeds_when_the_one_retry_does(
    twin: TwinFactory, product_data: dict[str, Any]
) -> None:
    with FaultServer([circuit_503(), Reply.envelope(0, product_data)]) as server:
        product = await twin(base_url=server.base_url).get(SKU)
        assert product.sku_id == SKU
        assert len(server.requests) == 2


async def test_a_plain_503_is_still_retried_within_the_budget(twin: TwinFactory) -> None:
    plain = Reply.envelope(503, None, status=503, headers={"Retry-After": "0"})
    with FaultServer([plain]) as server:
        with pytest.raises(errors.ServiceUnavailableError) as caught:
            await twin(base_url=server.base_url, max_calls_per_item=4).get(SKU)
        assert len(server.requests) == 4
    assert caught.value.circuit is None


def waiting(code: int, status: int, retry_after: str) -> Reply:
    return Reply.envelope(code, None, status=status, headers={"Retry-After": retry_after})


@pytest.mark.parametrize(
    ("reply", "error_type"),
    [
        (circuit_503(retry_after=3600), errors.ServiceUnavailableError),
        (waiting(302, 429, "inf"), errors.RateLimitError),
        (waiting(301, 503, "121"), errors.CollectionFailedError),
    ],
    ids=["circuit-3600", "302-inf", "301-121"],
)
async def test_get_raises_a_retry_after_above_the_cap_with_its_value(
    twin: TwinFactory, reply: Reply, error_type: type[errors.APIError]
) -> None:
    with FaultServer([reply]) as server:
        with pytest.raises(error_type) as caught:
            await twin(base_url=server.base_url).get(SKU)
        assert len(server.requests) == 1
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 120
    assert "more than max_retry_after=120 s" in str(caught.value)


async def _results(run: ManyRun, ids: list[str]) -> tuple[list[Any], BaseException | None]:
    got = []
    try:
        async for result in run.results(ids):
            got.append(result)
    except errors.JditemError as exc:
        record_raised(exc)
        return got, exc
    return got, None


async def test_a_run_pauses_as_a_whole_and_probes_with_one_item() -> None:
    """Behind an open circuit the run sends one probe at a time instead of every item
    waiting out its own retries, and resumes at full concurrency once a probe gets
    anything but that 503.

    The vendor answers the first 4 calls (on the wire at once, or the first of them, and
    the others as probes) with the circuit 503; the 5th call is a probe: held, and while
    it is held nothing else is sent; it is answered 503 again, so the 6th is another
    probe, answered with a product; then the vendor holds calls until 4 are on the wire
    at once (full concurrency again).
    """
    concurrency = 4
    probe_held = threading.Event()

    def plan(n: int, item: str) -> Answer:
        if n <= concurrency:
            return Answer("circuit")
        if n == concurrency + 1:
            probe_held.set()
            return Answer("circuit", hold=True)
        return Answer(hold=n > concurrency + 2)

    ids = [str(500_000_000_000 + i) for i in range(12)]
    with FakeVendor(plan) as vendor:
        async with AsyncClient(TOKEN, base_url=vendor.base_url) as client:
            run = ManyRun(client, concurrency=concurrency)
            task = asyncio.create_task(_results(run, ids))
            await await_until(probe_held.is_set, what="the probe reached the vendor")
            await await_until(lambda: vendor.held, what="the probe is held")
            # Nothing else goes out while the probe is out (there is nothing to wait for
            # but the probe, so a short look proves it; a slow machine only looks less).
            await asyncio.sleep(0.5)
            assert len(vendor.log) == concurrency + 1
            vendor.release()
            vendor.hold_again()  # the 2nd probe's product passes: plan n == 6 is not held
            await await_until(
                lambda: len(vendor.held) == concurrency,
                what="full concurrency after the probe got a product",
            )
            vendor.release()
            results, error = await task
    assert error is None
    assert sorted(r.item_id for r in results) == sorted(ids)
    assert all(r.ok for r in results)
    kinds = [kind for _, _, kind in vendor.log]
    assert kinds[: concurrency + 2] == ["circuit"] * (concurrency + 1) + ["product"]
    assert run.circuit.probes >= 2  # 2 when the first 4 calls were on the wire together
    assert run.circuit.pauses == 1


async def test_a_circuit_open_past_the_deadline_stops_the_run() -> None:
    """A pause is bounded by the per-item deadline: then the run stops, the items not
    fetched are left to do, and the error says what happened."""
    with FakeVendor(lambda n, item: Answer("circuit")) as vendor:
        async with AsyncClient(TOKEN, base_url=vendor.base_url, deadline=1.0) as client:
            run = ManyRun(client, concurrency=2, deadline=1.0)
            results, error = await _results(run, [str(510_000_000_000 + i) for i in range(6)])
    assert isinstance(error, errors.ServiceUnavailableError)
    assert "stayed unavailable" in str(error)
    assert "upstream code 601" in str(error)
    assert run.circuit.probes >= 1
    assert results == []
    # one probe at a time: never more calls than the first ones on the wire plus probes
    assert len(vendor.log) <= 2 + run.circuit.probes


@pytest.mark.parametrize(
    "answer",
    [Answer("circuit", retry_after=3600), Answer("circuit", retry_after=121)],
    ids=["circuit-3600", "circuit-121"],
)
async def test_a_run_stops_on_a_retry_after_above_the_cap(answer: Answer) -> None:
    with FakeVendor(lambda n, item: answer) as vendor:
        async with AsyncClient(TOKEN, base_url=vendor.base_url) as client:
            run = ManyRun(client, concurrency=2)
            results, error = await _results(run, [str(520_000_000_000 + i) for i in range(8)])
    assert isinstance(error, errors.ServiceUnavailableError)
    assert error.retry_after == answer.retry_after
    assert f"asked to wait {answer.retry_after} s" in str(run.stop_reason)
    assert results == []
    assert len(vendor.log) <= 2, "calls on the wire finish; no new one after"
