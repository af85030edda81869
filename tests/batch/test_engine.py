"""The batch engine with a scripted transport (httpx.MockTransport): results, fatal stop,
throttling, pending, call budget, journal, cache, and the sync twin."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from jditem import errors
from jditem.batch.cache import ResultCache
from jditem.batch.engine import BatchRun
from jditem.batch.journal import Journal
from jditem.client import AsyncClient
from jditem.formats.items import parse_lines

BASE = "http://127.0.0.1:9"
TOKEN = "tok_secret_value_123"


def envelope(code: int, data: Any = None, status: int = 200, **headers: str) -> httpx.Response:
    body = {"code": code, "message": "m", "data": data, "requestId": f"r{code}"}
    return httpx.Response(status, json=body, headers=headers)


def product(item_id: str) -> httpx.Response:
    return envelope(0, {"skuId": item_id, "skuName": f"Item {item_id}"})


Handler = Callable[[httpx.Request], Any]


def make_client(handler: Handler, **options: Any) -> AsyncClient:
    transport = httpx.MockTransport(handler)
    return AsyncClient(
        TOKEN,
        base_url=BASE,
        http_client=httpx.AsyncClient(transport=transport),
        backoff_base=0.001,
        backoff_max=0.01,
        **options,
    )


async def collect(client: AsyncClient, ids: list[str], **kwargs: Any) -> list[Any]:
    return [result async for result in client.get_many(ids, **kwargs)]


async def test_every_unique_id_once_with_products_and_item_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        item_id = request.url.params["itemId"]
        return envelope(202) if item_id == "13" else product(item_id)

    client = make_client(handler)
    results = await collect(client, ["11", "12", "13", "11", "14"], concurrency=3)
    assert sorted(r.item_id for r in results) == ["11", "12", "13", "14"]
    by_id = {r.item_id: r for r in results}
    assert by_id["11"].ok
    assert by_id["11"].product.title == "Item 11"
    assert isinstance(by_id["13"].error, errors.ItemNotSupportedError)


async def test_fatal_answer_stops_new_calls_within_concurrency() -> None:
    """After the first 602, at most `concurrency` calls are still answered."""
    concurrency = 4
    order: list[str] = []
    charged = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal charged
        await asyncio.sleep(0.01)
        if charged >= 10:
            order.append("602")
            return envelope(602, status=402)
        charged += 1
        order.append("0")
        return product(request.url.params["itemId"])

    client = make_client(handler)
    results: list[Any] = []

    async def consume() -> None:
        async for result in client.get_many(
            [str(i) for i in range(1, 200)], concurrency=concurrency
        ):
            results.append(result)

    with pytest.raises(errors.BudgetExhaustedError):
        await consume()
    assert len(results) == 10
    first = order.index("602")
    assert len(order) - first - 1 <= concurrency
    assert len(order) < 10 + 2 * concurrency


async def test_pending_then_ready_is_journaled(tmp_path: Path) -> None:
    seen: dict[str, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        item_id = request.url.params["itemId"]
        seen[item_id] = seen.get(item_id, 0) + 1
        if seen[item_id] == 1:
            status = {
                "taskId": f"t{item_id}",
                "itemId": item_id,
                "taskStatus": "queued",
                "retryAfter": 0.01,
            }
            return envelope(102, status, status=202)
        return product(item_id)

    journal = Journal(tmp_path / "job.sqlite")
    journal.load(parse_lines(["1", "2", "3"]))
    run = BatchRun(make_client(handler), concurrency=2, journal=journal)
    results = [r async for r in run.results(journal.iter_open())]
    assert all(r.ok for r in results)
    assert len(results) == 3
    assert journal.counts()["done"] == 3
    assert journal.call_codes() == {"0": 3, "102": 3}
    assert run.stats.calls == 6
    assert run.stats.charged_calls == 3
    assert run.stats.pending == 0
    journal.close()


async def test_throttling_cuts_the_rate_and_items_are_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls in (2, 3):
            return envelope(302, status=429, **{"Retry-After": "0"})
        return product(request.url.params["itemId"])

    run = BatchRun(make_client(handler), concurrency=1, rate=1000.0)
    results = [r async for r in run.results(["1", "2", "3"])]
    assert all(r.ok for r in results)
    assert run.stats.throttled == 2
    assert run.limiter.cuts >= 1
    assert run.limiter.rate is not None
    assert run.limiter.rate < 1000


async def test_max_calls_stops_the_run_and_leaves_items_open(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "job.sqlite")
    journal.load(parse_lines([str(i) for i in range(1, 21)]))
    run = BatchRun(
        make_client(lambda r: product(r.url.params["itemId"])),
        concurrency=2,
        journal=journal,
        max_calls=5,
    )
    results = [r async for r in run.results(journal.iter_open())]
    assert len(results) == 5
    assert run.stats.calls == 5
    assert run.stop_reason == "max_calls=5 reached"
    assert run.budget_spent
    counts = journal.counts()
    assert counts["done"] == 5
    assert counts["todo"] == 15
    journal.close()


async def test_cache_serves_without_calls_and_refresh_bypasses_it(tmp_path: Path) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return product(request.url.params["itemId"])

    cache = ResultCache.in_home(tmp_path, origin=BASE)
    first = BatchRun(make_client(handler), cache=cache)
    assert len([r async for r in first.results(["1", "2"])]) == 2
    assert calls == 2
    second = BatchRun(make_client(handler), cache=cache)
    results = [r async for r in second.results(["1", "2"])]
    assert calls == 2
    assert {r.source for r in results} == {"cache"}
    third = BatchRun(make_client(handler), cache=cache, refresh=True)
    assert len([r async for r in third.results(["1"])]) == 1
    assert calls == 3
    cache.close()


async def test_a_gateway_answering_html_leaves_the_items_to_do_not_failed(
    tmp_path: Path,
) -> None:
    """31 ids behind a gateway that answers HTML: the run stops early, nothing is failed;
    the items whose call got the HTML may have been charged behind it (the server never
    said it honours Idempotency-Key): marked uncertain, not asked again automatically."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html><h1>502 Bad Gateway</h1></html>")

    journal = Journal(tmp_path / "job.sqlite")
    journal.load(parse_lines([str(i) for i in range(1, 32)]))
    run = BatchRun(make_client(handler), concurrency=4, journal=journal)
    with pytest.raises(errors.ProtocolError, match="left to do, not failed"):
        [r async for r in run.results(journal.iter_open())]
    counts = journal.counts()
    assert counts.get("failed", 0) == 0
    assert counts.get("done", 0) == 0
    assert counts["uncertain"] == run.stats.calls == run.stats.uncertain
    assert counts.get("todo", 0) + counts.get("pending", 0) + counts["uncertain"] == 31
    assert run.stats.calls < 31
    journal.close()


@pytest.mark.parametrize("honours", [False, True], ids=["vendor-like", "honours-keys"])
async def test_the_journal_learns_whether_the_server_honours_keys(
    tmp_path: Path, honours: bool
) -> None:
    """Answers are committed per loop turn until the server says it honours keys; then
    group-committed, and the journal remembers it for its base URL (a rerun after a crash
    asks again for what was in flight, under the same keys)."""
    headers = {"Idempotency-Key-Honoured": "ttl=600"} if honours else {}

    def handler(request: httpx.Request) -> httpx.Response:
        item = request.url.params["itemId"]
        return envelope(0, {"skuId": item, "skuName": f"Item {item}"}, **headers)

    journal = Journal(tmp_path / "job.sqlite")
    journal.load(parse_lines(["1", "2", "3"]))
    client = make_client(handler)
    run = BatchRun(client, concurrency=2, journal=journal)
    assert journal.durable_answers
    assert len([r async for r in run.results(journal.iter_open())]) == 3
    assert journal.durable_answers is not honours
    assert journal.honoured_keys(BASE) == (600 if honours else None)
    journal.close()
    # the next run starts from what the journal remembers
    reopened = Journal(tmp_path / "job.sqlite")
    BatchRun(make_client(handler), journal=reopened)
    assert reopened.durable_answers is not honours
    reopened.close()
