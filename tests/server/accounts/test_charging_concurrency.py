"""SPEC §2.5 under concurrency: exactly k charges, balance never negative, and
Σ ledger = balance change = Σ token spend — for one budgeted token (602 path) and for
three tokens sharing one balance (601 path)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.support.backends import Backend
from tests.support.live_server import V2_PATH, LiveServer, live_server

ITEM = "100012043978"
CALLS = 200
PRICE = 100


@pytest.fixture(scope="module")
def server(backend: Backend) -> Iterator[LiveServer]:
    with backend.database(), live_server() as live:
        prime = live.make_token("primer")
        assert live.get(ITEM, prime).json()["code"] == 0  # cached: every call can succeed
        yield live


async def _hammer(live: LiveServer, tokens: list[str], calls: int) -> Counter[int]:
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=live.base_url, limits=limits, timeout=60) as client:

        async def one(i: int) -> int:
            token = tokens[i % len(tokens)]
            r = await client.get(
                V2_PATH, params={"itemId": ITEM}, headers={"Authorization": f"Bearer {token}"}
            )
            return int(r.json()["code"])

        codes = await asyncio.gather(*(one(i) for i in range(calls)))
    return Counter(codes)


def _money(live: LiveServer, account: str) -> tuple[int, int, int, int]:
    balance = live.scalar("SELECT balance FROM accounts WHERE name = :a", a=account)
    spent = live.scalar(
        "SELECT SUM(t.spent) FROM tokens t JOIN accounts a ON a.id = t.account_id "
        "WHERE a.name = :a",
        a=account,
    )
    charges = live.scalar(
        "SELECT COALESCE(SUM(l.amount), 0) FROM ledger l JOIN accounts a ON a.id = l.account_id "
        "WHERE a.name = :a AND l.kind = 'charge'",
        a=account,
    )
    charged_calls = live.scalar(
        "SELECT COUNT(*) FROM call_records c JOIN accounts a ON a.id = c.account_id "
        "WHERE a.name = :a AND c.code = 0 AND c.charged = :p",
        a=account,
        p=PRICE,
    )
    return balance, spent, charges, charged_calls


async def test_budget_allows_exactly_k(server: LiveServer) -> None:
    k = 37
    token = server.make_token(
        "budget-k", balance_yuan="100", budget_yuan=f"{k * PRICE / 10000:.4f}"
    )
    codes = await _hammer(server, [token], CALLS)
    assert codes == Counter({0: k, 602: CALLS - k})
    balance, spent, charges, charged_calls = _money(server, "budget-k")
    assert spent == k * PRICE
    assert 1_000_000 - balance == spent == -charges
    assert charged_calls == k


async def test_shared_balance_allows_exactly_k(server: LiveServer) -> None:
    k = 53
    tokens = [
        server.make_token("shared-k", balance_yuan=f"{k * PRICE / 10000:.4f}", name=n)
        for n in ("a", "b", "c")
    ]
    codes = await _hammer(server, tokens, CALLS)
    assert codes == Counter({0: k, 601: CALLS - k})
    balance, spent, charges, charged_calls = _money(server, "shared-k")
    assert balance == 0  # never negative: exactly used up
    assert spent == k * PRICE == -charges
    assert charged_calls == k


async def test_concurrent_charges_share_transactions(server: LiveServer) -> None:
    """Group commit on both profiles: concurrent charged calls are not one transaction
    each (SQLite: the writer thread; PostgreSQL: one pooled connection per batch)."""
    token = server.make_token("grouped", balance_yuan="100", name="grouped")
    before = server.run(_batches)
    codes = await _hammer(server, [token], CALLS)
    assert codes == Counter({0: CALLS})
    applied = server.run(_batches) - before
    assert 1 <= applied < CALLS


async def _batches(ctx: object) -> int:
    return int(ctx.charger.batches_applied)  # type: ignore[attr-defined]
