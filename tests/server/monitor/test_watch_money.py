"""A watch list's daily budget under concurrency (real server, both store profiles).

Watch checks of a list and ordinary calls of the same token race through admission at
once (group commits of charges included): Σ ledger of the list's checks of the day never
exceeds its budget — exactly the budget when there is work enough — while the token's
budget and the account's balance still bind first, and Σ ledger = balance change =
token spend = the list's recorded spend.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.backends import Backend
from tests.support.live_server import LiveServer, live_server

from jditem.protocol.codes import Code
from jditem.server.admission.call import WatchOrigin
from jditem.server.context import ServerContext
from jditem.server.ids import new_request_id

PRICE = 100


@pytest.fixture
def server(backend: Backend) -> Iterator[LiveServer]:
    del backend
    with live_server(watch_scheduler=False, watch_min_interval_seconds=60) as live:
        yield live


def _make_list(live: LiveServer, token: str, budget: str) -> int:
    answer = live.http.post(
        "/api/watch/lists",
        json={"name": "race", "intervalSeconds": 60, "dailyBudget": budget},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert answer["code"] == 0, answer
    return int(answer["data"]["id"])


#: Bound on the re-asks of one pending item (each waits for the collection).
PENDING_ROUNDS = 100


def _race(live: LiveServer, list_id: int, watched: int, ordinary: int) -> Counter[tuple[str, int]]:
    """``watched`` checks of the list and ``ordinary`` calls of its token, all at once."""

    token_id = int(live.scalar("SELECT token_id FROM watch_lists WHERE id = :l", l=list_id))

    async def go(ctx: ServerContext) -> Counter[tuple[str, int]]:
        identity = await ctx.admission.identity_for_token(token_id)

        async def one(n: int, origin: WatchOrigin | None) -> tuple[str, int]:
            # a pending answer (collection slower than the wait on a busy machine) is
            # free: ask again, as a client would, until the item has its final answer
            for _ in range(PENDING_ROUNDS):
                answer = await ctx.admission.answer(
                    identity, str(700_000_000_000 + n), new_request_id(), origin=origin
                )
                if answer.code != Code.PENDING:
                    break
            return ("watch" if origin else "call", int(answer.code))

        calls = [one(n, WatchOrigin(list_id)) for n in range(watched)]
        calls += [one(watched + n, None) for n in range(ordinary)]
        return Counter(await asyncio.gather(*calls))

    return live.run(go, timeout=120)


def _books(live: LiveServer, list_id: int) -> dict[str, Any]:
    return {
        "list_ledger": int(
            live.scalar(
                "SELECT COALESCE(-SUM(l.amount), 0) FROM ledger l JOIN call_records c "
                "ON c.request_id = l.request_id WHERE c.watch_list_id = :l",
                l=list_id,
            )
        ),
        "list_spend": int(
            live.scalar(
                "SELECT COALESCE(SUM(spent), 0) FROM watch_spend WHERE list_id = :l", l=list_id
            )
        ),
        "ledger": int(
            live.scalar("SELECT COALESCE(-SUM(amount), 0) FROM ledger WHERE kind = 'charge'")
        ),
        "spent": int(live.scalar("SELECT SUM(spent) FROM tokens")),
        "balance": int(live.scalar("SELECT SUM(balance) FROM accounts")),
    }


def test_the_list_budget_is_exact_under_concurrency(server: LiveServer) -> None:
    token = server.make_token("race", balance_yuan="100")
    list_id = _make_list(server, token, "0.07")
    answers = _race(server, list_id, watched=40, ordinary=30)
    assert answers[("watch", int(Code.SUCCESS))] == 7, answers
    assert answers[("watch", int(Code.BUDGET_EXHAUSTED))] == 33
    assert answers[("call", int(Code.SUCCESS))] == 30  # the list's budget binds only its checks
    books = _books(server, list_id)
    assert books["list_ledger"] == books["list_spend"] == 7 * PRICE
    assert books["ledger"] == books["spent"] == 37 * PRICE
    assert books["balance"] == 1_000_000 - 37 * PRICE


def test_the_token_budget_binds_before_the_list_budget(server: LiveServer) -> None:
    token = server.make_token("race-token", balance_yuan="100", budget_yuan="0.05")
    list_id = _make_list(server, token, "0.07")
    answers = _race(server, list_id, watched=20, ordinary=20)
    charged = answers[("watch", 0)] + answers[("call", 0)]
    assert charged == 5  # the token's budget: whichever calls won the race
    books = _books(server, list_id)
    assert books["list_ledger"] == books["list_spend"] == answers[("watch", 0)] * PRICE
    assert books["ledger"] == books["spent"] == 5 * PRICE


def test_the_balance_binds_before_the_list_budget(server: LiveServer) -> None:
    token = server.make_token("race-balance", balance_yuan="0.04")
    list_id = _make_list(server, token, "0.07")
    answers = _race(server, list_id, watched=20, ordinary=20)
    assert answers[("watch", 0)] + answers[("call", 0)] == 4
    books = _books(server, list_id)
    assert books["balance"] == 0
    assert books["list_ledger"] == books["list_spend"] == answers[("watch", 0)] * PRICE
