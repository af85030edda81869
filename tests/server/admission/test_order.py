"""SPEC §2.4: for every pair of simultaneous failure causes, the earlier check answers,
and the rejected call consumes nothing (no quota count, no spend, no balance).

Each cause is set up for real: 302 and 303 by an admitted call that used the only
rate-limit slot / the day's only quota unit; 100, 600 through the admin API; 400 by a
bad itemId; 601/602 by a balance/budget that the priming call (if any) used up.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.support.backends import Backend
from tests.support.live_server import LiveServer, live_server

ORDER = [100, 600, 400, 302, 303, 602, 601]
ITEM = "100012043978"


@pytest.fixture(scope="module")
def server(backend: Backend) -> Iterator[LiveServer]:
    with backend.database(), live_server() as live:
        prime = live.make_token("primer")
        assert live.get(ITEM, prime).json()["code"] == 0  # cache the item: answers are instant
        yield live


@pytest.mark.parametrize(("first", "second"), list(itertools.combinations(ORDER, 2)))
def test_earlier_check_answers(server: LiveServer, first: int, second: int) -> None:
    causes = {first, second}
    account = f"order-{first}-{second}"
    prime = 302 in causes or 303 in causes
    balance = ("0.01" if prime else "0") if 601 in causes else "10"
    budget = ("0.01" if prime else "0") if 602 in causes else None
    token = server.make_token(
        account,
        balance_yuan=balance,
        budget_yuan=budget,
        rate=0.001 if 302 in causes else None,
        burst=1 if 302 in causes else None,
        daily_quota=1 if 303 in causes else None,
    )
    if prime:
        assert server.get(ITEM, token).json()["code"] == 0
    if 100 in causes:
        server.admin("POST", f"/tokens/{token[:10]}/disable")
    if 600 in causes:
        server.admin("PATCH", f"/tokens/{token[:10]}", {"permissions": ["jd/other"]})

    def state() -> tuple[object, ...]:
        return (
            server.scalar("SELECT balance FROM accounts WHERE name = :a", a=account),
            server.scalar(
                "SELECT t.spent FROM tokens t JOIN accounts a ON a.id = t.account_id "
                "WHERE a.name = :a",
                a=account,
            ),
            server.scalar(
                "SELECT COALESCE(SUM(q.count), 0) FROM quota_counters q JOIN tokens t "
                "ON t.id = q.token_id JOIN accounts a ON a.id = t.account_id WHERE a.name = :a",
                a=account,
            ),
            server.scalar(
                "SELECT COUNT(*) FROM ledger l JOIN accounts a ON a.id = l.account_id "
                "WHERE a.name = :a",
                a=account,
            ),
        )

    before = state()
    body = server.get("12x" if 400 in causes else ITEM, token).json()
    assert body["code"] == first, (first, second, body)
    assert state() == before, "a rejected call must consume nothing"
