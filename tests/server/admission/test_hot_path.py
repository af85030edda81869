"""The cached-item hot path on a live server: the pre-serialized answer is the envelope,
a disabled token stops at once, the daily quota folded into the charge stays exact
under concurrency, and expired token lookups are read once (single flight)."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from jditem.server.accounts.identities import TokenIdentity
from jditem.server.context import ServerContext
from jditem.server.ids import new_request_id
from tests.support.backends import Backend
from tests.support.live_server import V2_PATH, LiveServer, live_server

ITEM = "100012043978"
PRICE = 100


@pytest.fixture(scope="module")
def server(backend: Backend) -> Iterator[LiveServer]:
    with backend.database(), live_server() as live:
        prime = live.make_token("primer")
        assert live.get(ITEM, prime).json()["code"] == 0  # cached from now on
        yield live


def test_a_cached_answer_is_the_envelope(server: LiveServer) -> None:
    token = server.make_token("env")
    first, second = server.get(ITEM, token), server.get(ITEM, token)
    for response in (first, second):
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert list(body) == ["code", "message", "data", "recordTime", "requestId"]
        assert body["code"] == 0
        assert body["message"] == "success"
        assert response.headers["x-request-id"] == body["requestId"]
        assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", body["requestId"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00", body["recordTime"])
    assert first.json()["data"] == second.json()["data"]
    assert first.json()["data"]["product"]["skuId"] == ITEM
    assert first.json()["requestId"] != second.json()["requestId"]
    charges = server.scalar(
        "SELECT COUNT(*) FROM ledger l JOIN accounts a ON a.id = l.account_id "
        "WHERE a.name = 'env' AND l.kind = 'charge'"
    )
    assert charges == 2


def test_disabling_a_token_through_the_admin_api_applies_at_once(server: LiveServer) -> None:
    token = server.make_token("toggle")
    assert [server.get(ITEM, token).json()["code"] for _ in range(3)] == [0, 0, 0]  # cached
    server.admin("POST", f"/tokens/{token[:10]}/disable")
    assert server.get(ITEM, token).json()["code"] == 100
    server.admin("POST", f"/tokens/{token[:10]}/enable")
    assert server.get(ITEM, token).json()["code"] == 0


async def test_daily_quota_with_the_charge_is_exact_under_concurrency(server: LiveServer) -> None:
    k, calls = 7, 60
    token = server.make_token("quota-k", balance_yuan="100", daily_quota=k)
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=60) as client:

        async def one() -> int:
            r = await client.get(
                V2_PATH, params={"itemId": ITEM}, headers={"Authorization": f"Bearer {token}"}
            )
            return int(r.json()["code"])

        codes = Counter(await asyncio.gather(*(one() for _ in range(calls))))
    assert codes == Counter({0: k, 303: calls - k})
    account = "a.name = 'quota-k'"
    join = "JOIN tokens t ON t.id = q.token_id JOIN accounts a ON a.id = t.account_id"
    assert server.scalar(f"SELECT SUM(q.count) FROM quota_counters q {join} WHERE {account}") == k
    assert (
        server.scalar(
            "SELECT COUNT(*) FROM ledger l JOIN accounts a ON a.id = l.account_id "
            f"WHERE {account} AND l.kind = 'charge'"
        )
        == k
    )
    assert server.scalar(f"SELECT balance FROM accounts a WHERE {account}") == 1_000_000 - k * PRICE


def test_an_expired_token_lookup_is_read_once(server: LiveServer) -> None:
    token = server.make_token("flight")

    async def authenticate_many(ctx: ServerContext) -> tuple[int, list[Any]]:
        admission = ctx.admission
        admission.invalidate()
        real_load = admission.identities._load
        loads = 0

        async def counting(condition: Any) -> TokenIdentity | None:
            nonlocal loads
            loads += 1
            return await real_load(condition)

        admission.identities._load = counting  # type: ignore[method-assign]
        try:
            found = await asyncio.gather(*(admission.authenticate(token) for _ in range(50)))
        finally:
            del admission.identities._load
        return loads, found

    loads, found = server.run(authenticate_many)
    assert loads == 1
    assert all(identity is not None and identity == found[0] for identity in found)


def test_a_lookup_older_than_an_invalidation_is_not_cached(server: LiveServer) -> None:
    token = server.make_token("race")

    async def race(ctx: ServerContext) -> tuple[bool, bool]:
        admission = ctx.admission
        admission.invalidate()
        real_load = admission.identities._load
        gate, loaded = asyncio.Event(), asyncio.Event()

        async def slow(condition: Any) -> TokenIdentity | None:
            identity = await real_load(condition)
            loaded.set()
            await gate.wait()
            return identity

        admission.identities._load = slow  # type: ignore[method-assign]
        try:
            lookup = asyncio.ensure_future(admission.authenticate(token))
            await asyncio.wait_for(loaded.wait(), 30)  # the lookup read the token's row
            admission.invalidate()  # e.g. the token was disabled meanwhile
            gate.set()
            identity = await lookup
        finally:
            del admission.identities._load
        return identity is not None, bool(admission.identities._identities)

    answered, cached = server.run(race)
    assert answered  # the caller that started before still gets its answer
    assert not cached  # but it is not kept for later callers


def test_request_ids_are_unique_and_time_ordered() -> None:
    ids = [new_request_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", rid) for rid in ids)
    assert ids[0][:10] <= ids[-1][:10]  # the first 10 characters are the millisecond
