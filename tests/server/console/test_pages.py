"""Console pages on a real server: tokens, balance, call records, trends, tasks."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.server.console.conftest import ConsoleClient
from tests.support.live_server import LiveServer

# once per store profile (tests/conftest.py: backend)
pytestmark = pytest.mark.usefixtures("backend")

ITEM = "100012043978"


def _new_token(console: ConsoleClient, **fields: str) -> tuple[str, str]:
    """Create a token through the console; returns (raw token, page HTML)."""
    data = {"account": "acme", "name": "console-made", "permissions": "jd/get-item-detail/v2"}
    data.update(fields)
    response = console.post("/console/tokens", data)
    assert response.status_code == 200, response.text
    match = re.search(r'<code id="new-token-value">([^<]+)</code>', response.text)
    assert match, response.text
    return match.group(1), response.text


@pytest.fixture(scope="module", autouse=True)
def seeded(server: LiveServer) -> str:
    """An account with a token that made one successful call."""
    token = server.make_token("acme", balance_yuan="10", name="seed")
    for _ in range(20):
        body = server.get(ITEM, token).json()
        if body["code"] == 0:
            break
    assert body["code"] == 0, body
    server.flush()
    return token


def test_every_page_renders(console: ConsoleClient) -> None:
    for path in (
        "/console",
        "/console/tokens",
        "/console/balance",
        "/console/calls",
        "/console/trends",
        "/console/trends?range=30d",
        "/console/spending",
        "/console/tasks",
        "/console/jobs",
    ):
        response = console.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert response.headers["server-timing"].startswith("console;dur=")
        assert "<h1>" in response.text


def test_overview_shows_balance_calls_and_health(console: ConsoleClient) -> None:
    page = console.get("/console").text
    assert "acme" in page
    assert 'id="calls-today">' in page
    # Fewer than the minimum samples: the health level is "No data".
    assert "No data" in page
    for label in ("Healthy", "Available", "Limited", "Mostly unavailable", "No data"):
        assert label in page


def test_created_token_is_shown_once_and_works_on_the_api(
    console: ConsoleClient, server: LiveServer
) -> None:
    raw, page = _new_token(console, budget="0.05", daily_quota="5", rate_limit="", burst="")
    assert page.count(raw) == 1
    listing = console.get("/console/tokens").text
    assert raw not in listing
    assert raw[:8] in listing or raw[:6] in listing
    assert server.scalar("SELECT count(*) FROM tokens WHERE token_hash = :t", t=raw) == 0
    body = server.get(ITEM, raw).json()
    assert body["code"] in (0, 102), body
    row = server.rows(
        "SELECT budget, daily_quota, rate_limit FROM tokens WHERE name = 'console-made'"
    )
    assert row == [(500, 5, None)]


def test_token_creation_errors_are_explained(console: ConsoleClient) -> None:
    response = console.post(
        "/console/tokens", {"account": "acme", "budget": "0.00001", "permissions": "*"}
    )
    assert response.status_code == 400
    assert "more than 4 decimal places" in response.text
    response = console.post("/console/tokens", {"account": "nope", "permissions": "*"})
    assert response.status_code == 400
    assert "no account named" in response.text


def test_disable_and_edit_a_token(console: ConsoleClient, server: LiveServer) -> None:
    raw, _page = _new_token(console, name="to-edit")
    token_id = server.scalar("SELECT id FROM tokens WHERE name = 'to-edit'")
    response = console.post(f"/console/tokens/{token_id}/enabled", {"enabled": "0"})
    assert response.status_code == 303
    assert server.get(ITEM, raw).json()["code"] == 100
    console.post(f"/console/tokens/{token_id}/enabled", {"enabled": "1"})
    assert console.get(f"/console/tokens/{token_id}").status_code == 200
    response = console.post(
        f"/console/tokens/{token_id}",
        {
            "name": "edited",
            "rate_limit": "2.5",
            "burst": "4",
            "daily_quota": "",
            "budget": "1.25",
            "permissions": "jd/get-item-detail/v2, *",
        },
    )
    assert response.status_code == 303, response.text
    [row] = server.rows(
        "SELECT name, rate_limit, burst, daily_quota, budget, permissions "
        "FROM tokens WHERE id = :i",
        i=token_id,
    )
    permissions = json.loads(row[5]) if isinstance(row[5], str) else row[5]  # JSON on PG
    assert (*row[:5], permissions) == (
        "edited",
        2.5,
        4,
        None,
        12500,
        ["jd/get-item-detail/v2", "*"],
    )
    bad = console.post(f"/console/tokens/{token_id}", {"rate_limit": "fast", "permissions": "*"})
    assert bad.status_code == 400
    assert "Rate limit must be a number" in bad.text


def test_topup_and_ledger_totals(console: ConsoleClient, server: LiveServer) -> None:
    console.post("/console/balance/accounts", {"name": "beta", "opening": "2"})
    response = console.post("/console/balance/topup", {"account": "beta", "amount": "1.5"})
    assert response.status_code == 303
    assert server.scalar("SELECT balance FROM accounts WHERE name = 'beta'") == 35_000
    page = console.get("/console/balance?account=beta").text
    assert "¥3.5000" in page
    assert "opening balance" in page
    bad = console.post("/console/balance/topup", {"account": "beta", "amount": "-1"})
    assert bad.status_code == 400
    assert "must be positive" in bad.text
    # Charges appear in the ledger as negative amounts.
    assert "¥-0.0100" in console.get("/console/balance?account=acme").text


def test_call_records_filter_paginate_and_export(
    console: ConsoleClient, server: LiveServer
) -> None:
    token_id = server.scalar("SELECT id FROM tokens WHERE name = 'seed'")
    page = console.get(f"/console/calls?token={token_id}&code=0&item={ITEM}").text
    assert ITEM in page
    assert "<td>0 success</td>" in page, page
    today = datetime.now(UTC).date()
    empty = console.get(f"/console/calls?to={(today - timedelta(days=5)).isoformat()}").text
    assert "No call records match" in empty
    bad = console.get("/console/calls?item=abc")
    assert bad.status_code == 400
    assert "item must be an item id" in bad.text
    export = console.get(f"/console/calls.csv?token={token_id}")
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.text)))
    expected = server.scalar("SELECT count(*) FROM call_records WHERE token_id = :t", t=token_id)
    assert len(rows) == expected
    assert {r["code"] for r in rows} <= {"0", "102"}
    assert all(r["token_prefix"] for r in rows)


def test_calls_pagination(console: ConsoleClient, server: LiveServer) -> None:
    token = server.make_token("acme", name="pager")
    for _ in range(55):
        server.get("not-an-id", token)
    server.flush()
    token_id = server.scalar("SELECT id FROM tokens WHERE name = 'pager'")
    first = console.get(f"/console/calls?token={token_id}").text
    assert "55 records" in first
    assert "Older →" in first
    second = console.get(f"/console/calls?token={token_id}&page=2").text
    assert second.count("400 invalid parameters") == 5 + 1  # 5 rows + the code filter option


def test_trends_and_spending_read_the_rollups(console: ConsoleClient, server: LiveServer) -> None:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    token_id = server.scalar("SELECT id FROM tokens WHERE name = 'seed'")
    server.rows("SELECT 1")  # flush
    with server._sync_engine().begin() as conn:  # rollups only: no raw call rows
        import sqlalchemy as sa

        conn.execute(
            sa.text(
                "INSERT INTO usage_hourly (hour, token_id, code, calls, spend) "
                "VALUES (:h, :t, 301, 7777, 0), (:h, :t, 0, 4242, 424200)"
            ),
            {"h": hour.strftime("%Y-%m-%d %H:%M:%S.%f"), "t": token_id},
        )
    trends = console.get("/console/trends").text
    assert "7,777" in trends
    assert "4,2" in trends
    assert "<svg" in trends
    spending = console.get("/console/spending").text
    assert "¥42.4" in spending
    assert "seed" in spending


def test_tasks_list_detail_and_result_download(console: ConsoleClient, server: LiveServer) -> None:
    task_id = server.scalar(
        "SELECT id FROM tasks WHERE item_id = :i AND status = 'succeeded'", i=ITEM
    )
    listing = console.get(f"/console/tasks?status=succeeded&item={ITEM}").text
    assert task_id in listing
    detail = console.get(f"/console/tasks/{task_id}").text
    assert 'id="result-json"' in detail
    download = console.get(f"/console/tasks/{task_id}/result.json")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    assert isinstance(download.json(), dict)
    assert console.get("/console/tasks/t_missing").status_code == 404
    assert console.get("/console/tasks?status=bogus").status_code == 400


def test_call_records_csv_neutralises_formula_cells(
    console: ConsoleClient, server: LiveServer
) -> None:
    """A token named like a formula ran in a spreadsheet on main (issue 16 item 8)."""
    token = server.make_token("acme", name="=2+5 team")
    assert server.get(ITEM, token).json()["code"] in (0, 102)
    token_id = server.scalar("SELECT id FROM tokens WHERE name = '=2+5 team'")
    export = console.get(f"/console/calls.csv?token={token_id}")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert rows
    assert {r["token_name"] for r in rows} == {"'=2+5 team"}
    assert all(r["code"] in ("0", "102") for r in rows)  # numbers stay numbers
