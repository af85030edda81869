"""Idempotency-Key on the v2 endpoint (real server, real SQLite): a call paid under a
key is never charged again for the same token, key and item."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.backends import Backend
from tests.support.live_server import V2_PATH, LiveServer, live_server

PRICE = 100


@pytest.fixture(scope="module")
def server(backend: Backend) -> Iterator[LiveServer]:
    with backend.database(), live_server() as live:
        yield live


def _get(live: LiveServer, item: str, token: str, key: str | bytes | None) -> httpx.Response:
    headers: dict[str, Any] = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return live.http.get(V2_PATH, params={"itemId": item}, headers=headers)


def _charges(live: LiveServer, account: str, item: str | None = None) -> int:
    sql = (
        "SELECT COUNT(*) FROM ledger l JOIN accounts a ON a.id = l.account_id "
        "WHERE a.name = :a AND l.kind = 'charge'"
    )
    if item is not None:
        return int(live.scalar(sql + " AND l.item_id = :i", a=account, i=item))
    return int(live.scalar(sql, a=account))


def _money(live: LiveServer, account: str) -> tuple[int, int, int]:
    """(balance, Σ token spend, -Σ ledger charges) of ``account``."""
    balance = live.scalar("SELECT balance FROM accounts WHERE name = :a", a=account)
    spent = live.scalar(
        "SELECT SUM(t.spent) FROM tokens t JOIN accounts a ON a.id = t.account_id "
        "WHERE a.name = :a",
        a=account,
    )
    ledger = live.scalar(
        "SELECT COALESCE(-SUM(l.amount), 0) FROM ledger l JOIN accounts a "
        "ON a.id = l.account_id WHERE a.name = :a AND l.kind = 'charge'",
        a=account,
    )
    return int(balance), int(spent), int(ledger)


def test_a_repeat_with_the_key_is_a_free_replay(server: LiveServer) -> None:
    token = server.make_token("replay", balance_yuan="1")
    first = _get(server, "100012043978", token, "job-1-100012043978")
    assert first.json()["code"] == 0
    assert "idempotent-replayed" not in first.headers
    again = _get(server, "100012043978", token, "job-1-100012043978")
    assert again.status_code == 200
    assert again.json()["code"] == 0
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["data"] == first.json()["data"]
    assert _charges(server, "replay") == 1
    assert _money(server, "replay") == (10_000 - PRICE, PRICE, PRICE)
    # the replay is recorded as an uncharged code-0 call
    charged = server.rows(
        "SELECT c.charged FROM call_records c JOIN accounts a ON a.id = c.account_id "
        "WHERE a.name = 'replay' ORDER BY c.id"
    )
    assert [row[0] for row in charged] == [PRICE, 0]
    # without a key, the same item is charged as usual
    assert _get(server, "100012043978", token, None).json()["code"] == 0
    assert _charges(server, "replay") == 2


@pytest.mark.parametrize("cached", [False, True])
async def test_simultaneous_calls_with_one_key_pay_once(server: LiveServer, cached: bool) -> None:
    item = "100000000111" if cached else "100000000222"
    account = f"burst-{cached}"
    token = server.make_token(account, balance_yuan="1")
    if cached:  # a fresh result: every call takes the group-commit charge at once
        primer = server.make_token("primer", balance_yuan="1")
        assert _get(server, item, primer, None).json()["code"] == 0
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"same-{item}"}
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=60) as client:
        responses = await asyncio.gather(
            *(client.get(V2_PATH, params={"itemId": item}, headers=headers) for _ in range(20))
        )
    codes = Counter(int(r.json()["code"]) for r in responses)
    assert codes == Counter({0: 20}), codes
    replayed = sum(r.headers.get("idempotent-replayed") == "true" for r in responses)
    assert replayed == 19
    assert _charges(server, account) == 1
    assert _money(server, account) == (10_000 - PRICE, PRICE, PRICE)


def test_the_same_key_for_another_item_is_400(server: LiveServer) -> None:
    token = server.make_token("mismatch", balance_yuan="1")
    assert _get(server, "100000000301", token, "k-mismatch").json()["code"] == 0
    other = _get(server, "100000000302", token, "k-mismatch")
    body = other.json()
    assert (other.status_code, body["code"]) == (400, 400)
    assert "100000000301" in body["message"]
    assert "new key per item" in body["message"]
    assert _charges(server, "mismatch") == 1


def test_every_answer_says_that_keys_are_honoured(server: LiveServer) -> None:
    """``Idempotency-Key-Honoured: ttl=<idempotency_ttl_seconds>`` on every v2 answer —
    success, replay, refusals and errors alike: the evidence a client needs before it
    resends a call whose answer was lost (SPEC §4)."""
    token = server.make_token("announce", balance_yuan="1")
    answers = [
        _get(server, "100000000351", token, "k-announce"),  # 0, charged
        _get(server, "100000000351", token, "k-announce"),  # 0, free replay
        _get(server, "100000000351", token, None),  # 0 without a key
        _get(server, "12ab", token, None),  # 400
        _get(server, "100000000352", "tok_unknown_0000000000", None),  # 100
        server.http.get(V2_PATH, params={"itemId": "100000000353"}),  # 100, no token
    ]
    codes = [answer.json()["code"] for answer in answers]
    assert codes == [0, 0, 0, 400, 100, 100]
    assert {answer.headers.get("idempotency-key-honoured") for answer in answers} == {"ttl=86400"}


def test_keys_are_per_token(server: LiveServer) -> None:
    first = server.make_token("scope", balance_yuan="1", name="a")
    second = server.make_token("scope", name="b")
    assert _get(server, "100000000401", first, "shared-key").json()["code"] == 0
    # another token may use the same key for another item: no conflict, it pays itself
    response = _get(server, "100000000402", second, "shared-key")
    assert response.json()["code"] == 0
    assert "idempotent-replayed" not in response.headers
    # and for the same item as the first token: still its own, paid call
    third = server.make_token("scope", name="c")
    response = _get(server, "100000000401", third, "shared-key")
    assert "idempotent-replayed" not in response.headers
    for token, item in ((first, "100000000401"), (second, "100000000402")):
        assert _get(server, item, token, "shared-key").headers["idempotent-replayed"] == "true"
    assert _charges(server, "scope") == 3


def test_an_expired_key_is_ignored_and_replaced(server: LiveServer) -> None:
    token = server.make_token("expiry", balance_yuan="1")
    assert _get(server, "100000000501", token, "old-key").json()["code"] == 0
    server.execute(
        "UPDATE idempotency_keys SET created_at = '2000-01-01 00:00:00.000000' "
        "WHERE key = 'old-key'"
    )
    # expired: the key may even name another item now, and is charged anew
    response = _get(server, "100000000502", token, "old-key")
    assert response.json()["code"] == 0
    assert "idempotent-replayed" not in response.headers
    rows = server.rows("SELECT item_id FROM idempotency_keys WHERE key = 'old-key'")
    assert rows == [("100000000502",)]
    assert _charges(server, "expiry") == 2


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("x" * 129, "too long"),
        ("", "empty"),
        ("caf\u00e9".encode("latin-1"), "printable ASCII"),
    ],
)
def test_a_malformed_key_is_400(server: LiveServer, key: str | bytes, problem: str) -> None:
    token = server.make_token("malformed", balance_yuan="1")
    response = _get(server, "100000000601", token, key)
    body = response.json()
    assert (response.status_code, body["code"]) == (400, 400)
    assert problem in body["message"]
    assert "Idempotency-Key" in body["message"]
    assert _charges(server, "malformed") == 0


def test_a_repeated_key_header_is_400(server: LiveServer) -> None:
    token = server.make_token("repeated", balance_yuan="1")
    headers = [("Authorization", f"Bearer {token}"), ("Idempotency-Key", "a")]
    headers.append(("Idempotency-Key", "b"))
    response = server.http.get(V2_PATH, params={"itemId": "100000000701"}, headers=headers)
    assert response.json()["code"] == 400
    assert _charges(server, "repeated") == 0


def test_the_longest_key_is_accepted(server: LiveServer) -> None:
    token = server.make_token("longest", balance_yuan="1")
    key = "k" * 60 + " ~!" + "z" * 65  # 128 printable characters, a space included
    assert len(key) == 128
    assert _get(server, "100000000801", token, key).json()["code"] == 0
    assert _get(server, "100000000801", token, key).headers["idempotent-replayed"] == "true"
    assert _charges(server, "longest") == 1


def test_a_replay_is_served_after_the_money_ran_out(server: LiveServer) -> None:
    token = server.make_token("broke", balance_yuan="0.01")  # exactly one call
    assert _get(server, "100000000901", token, "paid").json()["code"] == 0
    assert _money(server, "broke") == (0, PRICE, PRICE)
    replay = _get(server, "100000000901", token, "paid")
    assert replay.json()["code"] == 0
    assert replay.headers["idempotent-replayed"] == "true"
    assert _get(server, "100000000902", token, "new").json()["code"] == 601
    # a budget that is used up does not refuse the replay either
    budgeted = server.make_token("budgeted", balance_yuan="1", budget_yuan="0.01")
    assert _get(server, "100000000903", budgeted, "b").json()["code"] == 0
    assert _get(server, "100000000904", budgeted, "c").json()["code"] == 602
    assert _get(server, "100000000903", budgeted, "b").json()["code"] == 0
    assert _charges(server, "broke") == 1
    assert _charges(server, "budgeted") == 1


def test_a_replay_is_not_counted_against_the_daily_quota(server: LiveServer) -> None:
    token = server.make_token("quota", balance_yuan="1", daily_quota=2)
    for _ in range(3):
        assert _get(server, "100000001001", token, "q").json()["code"] == 0
    used = server.scalar(
        "SELECT q.count FROM quota_counters q JOIN tokens t ON t.id = q.token_id "
        "JOIN accounts a ON a.id = t.account_id WHERE a.name = 'quota'"
    )
    assert used == 1
    assert _get(server, "100000001002", token, None).json()["code"] == 0
    assert _get(server, "100000001003", token, None).json()["code"] == 303
    assert _get(server, "100000001001", token, "q").json()["code"] == 0  # still a replay
    assert _charges(server, "quota") == 2


def test_a_replay_still_passes_the_rate_limit(server: LiveServer) -> None:
    token = server.make_token("rated", balance_yuan="1", rate=0.01, burst=1)
    assert _get(server, "100000001101", token, "r").json()["code"] == 0
    assert _get(server, "100000001101", token, "r").json()["code"] == 302
    assert _charges(server, "rated") == 1


def test_a_replay_without_a_cached_result_collects_again_for_free() -> None:
    with live_server(result_ttl_seconds=0) as live:
        token = live.make_token("nocache", balance_yuan="1")
        first = _get(live, "100012043978", token, "k")
        assert first.json()["code"] == 0
        again = _get(live, "100012043978", token, "k")
        assert again.json()["code"] == 0
        assert again.headers["idempotent-replayed"] == "true"
        tasks = live.scalar("SELECT COUNT(*) FROM tasks WHERE item_id = '100012043978'")
        assert tasks == 2  # collected again ...
        assert _charges(live, "nocache") == 1  # ... and not charged again
