"""The concurrent engine behind ``get_many`` (``client/many.py``) with scripted transports:
the sync twin's own ``http_client``, early stop on a dead or wrong server, honest charge
counts."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from jditem import AsyncClient, Client, errors
from jditem.client.many import ManyRun
from jditem.client.stops import DEAD_SERVER_CALLS

BASE = "http://127.0.0.1:9"
TOKEN = "tok_secret_value_123"


def product(item_id: str, **headers: str) -> httpx.Response:
    body = {"code": 0, "message": "ok", "data": {"skuId": item_id, "skuName": f"Item {item_id}"}}
    return httpx.Response(200, json=body, headers=headers)


def html(_: httpx.Request) -> httpx.Response:
    return httpx.Response(502, text="<html><body>Bad Gateway</body></html>")


def test_sync_get_many_sends_through_the_callers_http_client() -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            seen.append(request.headers["x-mine"])
        return product(request.url.params["itemId"])

    mine = httpx.Client(transport=httpx.MockTransport(handler), headers={"x-mine": "yes"})
    with Client(TOKEN, base_url=BASE, http_client=mine) as client:
        results = list(client.get_many(["1", "2", "3", "2"], concurrency=2))
    assert sorted(r.item_id for r in results) == ["1", "2", "3"]
    assert all(r.ok for r in results)
    assert seen == ["yes"] * 3
    assert not mine.is_closed  # not ours to close
    mine.close()


def test_sync_get_many_through_the_callers_client_keeps_its_concurrency() -> None:
    """8 calls on the wire at once through a blocking client (not the executor's few)."""
    concurrency = 8
    together = threading.Barrier(concurrency, timeout=30)

    def handler(request: httpx.Request) -> httpx.Response:
        together.wait()  # breaks (and the test fails) unless 8 calls are in flight at once
        return product(request.url.params["itemId"])

    mine = httpx.Client(transport=httpx.MockTransport(handler))
    with Client(TOKEN, base_url=BASE, http_client=mine) as client:
        ids = [str(i) for i in range(1, 17)]
        results = list(client.get_many(ids, concurrency=concurrency))
    assert sorted(r.item_id for r in results if r.ok) == sorted(ids, key=str)
    mine.close()


def test_sync_get_many_without_a_client_of_its_own_still_works() -> None:
    with Client(TOKEN, base_url="http://127.0.0.1:9") as client:
        clone = client.with_options(connect_timeout=0.5, max_calls_per_item=1)
        results = list(clone.get_many(["1"]))
    assert len(results) == 1
    assert isinstance(results[0].error, errors.ConnectError)


def make_client(handler: Any, **options: Any) -> AsyncClient:
    return AsyncClient(
        TOKEN,
        base_url=BASE,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        backoff_base=0.001,
        backoff_max=0.002,
        **options,
    )


async def test_html_from_a_gateway_stops_the_run_after_a_few_calls() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return html(request)

    run = ManyRun(make_client(handler), concurrency=2)
    with pytest.raises(errors.ProtocolError) as caught:
        [r async for r in run.results([str(i) for i in range(1, 41)])]
    assert DEAD_SERVER_CALLS <= calls <= DEAD_SERVER_CALLS + 2
    message = str(caught.value)
    assert message.startswith(f"stopped after {DEAD_SERVER_CALLS} calls in a row")
    assert "HTML from a gateway" in message
    assert "left to do, not failed" in message
    assert run.stats.failed == 0
    assert TOKEN not in message


async def test_refused_connections_stop_the_run() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    run = ManyRun(make_client(handler), concurrency=1)
    with pytest.raises(errors.ConnectError, match="connection failures"):
        [r async for r in run.results([str(i) for i in range(1, 11)])]
    assert run.stats.failed == 0
    assert run.stats.calls == DEAD_SERVER_CALLS


async def test_one_bad_answer_among_good_ones_fails_only_its_item() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        item_id = request.url.params["itemId"]
        return html(request) if item_id == "3" else product(item_id)

    run = ManyRun(make_client(handler), concurrency=1)
    results = [r async for r in run.results(["1", "2", "3", "4"])]
    assert [r.ok for r in results] == [True, True, False, True]
    assert isinstance(results[2].error, errors.ProtocolError)
    # sent, answered with something that is not the contract: it may have been charged
    assert isinstance(results[2].error, errors.AmbiguousOutcomeError)
    assert (run.stats.failed, run.stats.uncertain) == (0, 1)
    assert run.stop_reason is None


async def test_a_lost_answer_from_a_server_that_honours_keys_is_left_pending() -> None:
    """The same bad answer from a server that said it honours Idempotency-Key: resent under
    the item's key within its call budget, then left for the next run to ask again under
    that key (free there) — not uncertain."""
    honoured = {"Idempotency-Key-Honoured": "ttl=86400"}
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        item_id = request.url.params["itemId"]
        if item_id == "3":
            keys.append(request.headers["idempotency-key"])
            return httpx.Response(502, text="<html>Bad Gateway</html>", headers=honoured)
        return product(item_id, **honoured)

    client = make_client(handler, max_calls_per_item=3)
    await client.get("1")  # the server says it honours keys before the run starts
    assert client.key_evidence.honoured
    run = ManyRun(client, concurrency=2)
    results = {r.item_id: r async for r in run.results(["2", "3", "4"])}
    assert {item for item, r in results.items() if not r.ok} == {"3"}
    assert isinstance(results["3"].error, errors.InvalidResponseError)
    assert (run.stats.uncertain, run.stats.left_pending, run.stats.failed) == (0, 1, 0)
    assert len(keys) == 3
    assert len(set(keys)) == 1, "every resend under the item's one key"


async def test_free_replays_are_not_counted_as_charged() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        item_id = request.url.params["itemId"]
        if item_id in {"2", "3"}:
            return product(item_id, **{"Idempotent-Replayed": "true"})
        return product(item_id)

    run = ManyRun(make_client(handler), concurrency=2)
    results = [r async for r in run.results(["1", "2", "3"])]
    assert all(r.ok for r in results)
    assert run.stats.charged_calls == 1
    assert run.stats.replayed_calls == 2
