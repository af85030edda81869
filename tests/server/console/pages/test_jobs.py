"""Bulk jobs on a real server: every item goes through admission and is charged."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from jditem.formats.table import columns
from jditem.server.settings import Settings
from jditem.server.store.db import Database, migrate
from tests.server.console.conftest import ConsoleClient
from tests.support.backends import FreshDatabase
from tests.support.bulk_jobs import JOB_TIMEOUT, token_id_of, wait_for_job
from tests.support.live_server import LiveServer, live_server
from tests.support.waiting import wait_until

# once per store profile (tests/conftest.py: backend)
pytestmark = pytest.mark.usefixtures("backend")


def _start(console: ConsoleClient, token_id: int, items: str, **files: bytes) -> str:
    upload = {"file": ("ids.txt", files["file"], "text/plain")} if files else None
    response = console.post(
        "/console/jobs", {"token": str(token_id), "items": items, "name": "t"}, files=upload
    )
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/console/jobs/(j_\w+)", response.headers["location"])
    assert match
    return match.group(1)


def test_job_of_20_items_completes_and_downloads(
    console: ConsoleClient, server: LiveServer
) -> None:
    server.make_token("bulk", balance_yuan="1", name="bulk")
    token_id = token_id_of(server, "bulk")
    ids = [str(100_000 + i) for i in range(20)]
    pasted = "\n".join([*ids[:10], f"https://item.jd.com/{ids[0]}.html"])  # one duplicate
    job_id = _start(console, token_id, pasted, file="\n".join(ids[10:]).encode())
    progress = wait_for_job(console, job_id)
    assert progress["status"] == "done"
    assert progress["counts"]["succeeded"] == 20  # type: ignore[index]
    page = console.get(f"/console/jobs/{job_id}").text
    assert 'id="download-csv"' in page
    assert "¥0.2000" in page

    csv_response = console.get(f"/console/jobs/{job_id}/results.csv")
    assert csv_response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(csv_response.text)))
    assert len(rows) == 20
    assert list(rows[0]) == columns()  # the CLI's columns (issue 18 item 7)
    assert sorted(r["sku_id"] for r in rows) == sorted(ids)
    assert all(r["requested_id"] == r["sku_id"] and r["id_mismatch"] == "false" for r in rows)

    lines = console.get(f"/console/jobs/{job_id}/results.jsonl").text.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["itemId"] for r in records] == ids[:10] + ids[10:]
    assert all(r["code"] == 0 and r["data"] for r in records)

    # Charged exactly like the API: 20 ledger rows, balance and spend moved together.
    assert server.scalar("SELECT balance FROM accounts WHERE name = 'bulk'") == 10_000 - 20 * 100
    assert server.scalar("SELECT spent FROM tokens WHERE id = :t", t=token_id) == 2_000
    assert (
        server.scalar(
            "SELECT count(*) FROM ledger WHERE token_id = :t AND kind = 'charge'", t=token_id
        )
        == 20
    )
    assert (
        server.scalar(
            "SELECT count(*) FROM call_records WHERE token_id = :t AND code = 0", t=token_id
        )
        == 20
    )
    assert server.scalar("SELECT count(*) FROM tasks WHERE job_id = :j", j=job_id) == 20
    assert job_id in console.get("/console/jobs").text
    assert job_id in console.get(f"/console/tasks?job={job_id}").text


def test_job_stops_on_insufficient_balance_and_resumes(
    console: ConsoleClient, server: LiveServer
) -> None:
    server.make_token("poor", balance_yuan="0.03", name="poor")
    token_id = token_id_of(server, "poor")
    job_id = _start(console, token_id, "\n".join(str(200_000 + i) for i in range(6)))
    progress = wait_for_job(console, job_id)
    assert progress["status"] == "stopped"
    assert str(progress["stopReason"]).startswith("601")
    assert progress["counts"]["succeeded"] == 3  # type: ignore[index]
    assert progress["counts"]["skipped"] == 3  # type: ignore[index]
    assert server.scalar("SELECT balance FROM accounts WHERE name = 'poor'") == 0
    page = console.get(f"/console/jobs/{job_id}").text
    assert "top up" in page
    server.topup("poor", "1")
    assert console.post(f"/console/jobs/{job_id}/resume").status_code == 303
    progress = wait_for_job(console, job_id)
    assert progress["status"] == "done"
    assert progress["counts"]["succeeded"] == 6  # type: ignore[index]
    assert server.scalar("SELECT balance FROM accounts WHERE name = 'poor'") == 10_000 - 3 * 100


def test_job_input_errors_are_explained(console: ConsoleClient, server: LiveServer) -> None:
    server.make_token("acme", name="inputs")
    token_id = token_id_of(server, "inputs")
    bad = console.post("/console/jobs", {"token": str(token_id), "items": "12\nnot-an-id"})
    assert bad.status_code == 200  # a bad line is skipped and shown, not a refusal
    assert '<td class="num">2</td><td class="mono">not-an-id</td>' in bad.text
    assert "12\nnot-an-id" in bad.text  # the pasted list is kept for fixing
    junk = console.post("/console/jobs", {"token": str(token_id), "items": "junk\nmore junk"})
    assert junk.status_code == 400
    assert "No item id in the list: 2 lines named no item" in junk.text
    empty = console.post("/console/jobs", {"token": str(token_id), "items": ""})
    assert empty.status_code == 400
    assert "empty" in empty.text
    console.post(f"/console/tokens/{token_id}/enabled", {"enabled": "0"})
    disabled = console.post("/console/jobs", {"token": str(token_id), "items": "1"})
    assert disabled.status_code == 400
    assert "disabled" in disabled.text
    assert console.get("/console/jobs/j_nope").status_code == 404


def test_rate_limit_and_not_supported_apply_to_jobs() -> None:
    with live_server(sandbox_unsupported_ids=["300003"]) as server:
        server.make_token("acme", rate=4.0, burst=1, name="slow")
        client = ConsoleClient(server)
        client.sign_in()
        token_id = token_id_of(server, "slow")
        job_id = _start(client, token_id, "\n".join(str(300_000 + i) for i in range(6)))
        progress = wait_for_job(client, job_id)
        client.close()
        assert progress["status"] == "done"
        assert progress["counts"]["succeeded"] == 5  # type: ignore[index]
        assert progress["counts"]["not_supported"] == 1  # type: ignore[index]
        # The token's rate limit answered 302 to some calls; the job waited and went on.
        assert (
            server.scalar(
                "SELECT count(*) FROM call_records WHERE token_id = :t AND code = 302", t=token_id
            )
            > 0
        )
        assert server.scalar("SELECT spent FROM tokens WHERE id = :t", t=token_id) == 500


def test_pending_items_are_asked_again() -> None:
    with live_server(
        sandbox_latency_ms=(1200, 1200), wait_seconds=0.1, retry_after_seconds=1
    ) as server:
        server.make_token("acme", name="patient")
        client = ConsoleClient(server)
        client.sign_in()
        token_id = token_id_of(server, "patient")
        job_id = _start(client, token_id, "400001\n400002")
        progress = wait_for_job(client, job_id)
        client.close()
        assert progress["counts"]["succeeded"] == 2  # type: ignore[index]
        calls = server.rows(
            "SELECT item_id, calls, code FROM bulk_job_items WHERE job_id = :j", j=job_id
        )
        assert all(n >= 2 and code == 0 for _item, n, code in calls), calls
        assert (
            server.scalar(
                "SELECT count(*) FROM call_records WHERE token_id = :t AND code = 102", t=token_id
            )
            >= 2
        )


async def _seed_unfinished_job(home: Path, url: str | None) -> None:
    settings = Settings(home=home, database_url=url)
    db = Database.from_url(settings.effective_database_url)
    await migrate(db.engine)
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO accounts (id, name, balance, created_at) "
                "VALUES (1, 'acme', 100000, '2026-01-01 00:00:00.000000')"
            )
        )
        await conn.execute(
            sa.text(
                "INSERT INTO tokens (id, account_id, name, prefix, token_hash, enabled, "
                "permissions, spent, created_at) VALUES (1, 1, 'left', 'jd_x', 'h', TRUE, "
                "'[\"*\"]', 0, '2026-01-01 00:00:00.000000')"
            )
        )
        await conn.execute(
            sa.text(
                "INSERT INTO bulk_jobs (id, token_id, name, status, total, created_at) "
                "VALUES ('j_left', 1, '', 'running', 2, '2026-01-01 00:00:00.000000')"
            )
        )
        await conn.execute(
            sa.text(
                "INSERT INTO bulk_job_items (job_id, position, item_id, state, calls, charged) "
                "VALUES ('j_left', 0, '500001', 'succeeded', 1, 100), "
                "('j_left', 1, '500002', 'pending', 1, 0)"
            )
        )
    await db.dispose()


def test_unfinished_jobs_resume_when_the_server_starts(
    tmp_path: Path, fresh_database: FreshDatabase
) -> None:
    import asyncio

    asyncio.run(_seed_unfinished_job(tmp_path, fresh_database.url))
    with live_server(home=tmp_path) as server:
        wait_until(
            lambda: server.scalar("SELECT status FROM bulk_jobs WHERE id = 'j_left'") == "done",
            what="the unfinished job to be resumed",
            timeout=JOB_TIMEOUT,
        )
        assert server.rows(
            "SELECT item_id, state, calls FROM bulk_job_items WHERE job_id = 'j_left' "
            "ORDER BY position"
        ) == [("500001", "succeeded", 1), ("500002", "succeeded", 2)]
