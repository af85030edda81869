"""Bulk jobs across processes (issue 8 items 4 and 5), on each store profile.

One process drives a job (a lease in the database); a job whose process died is
taken over once its lease expires; a charge made for a job item is in the job's
totals even if the process dies before it records the item's answer.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jditem.server.admission.call import JobOrigin
from jditem.server.context import ServerContext
from tests.support.backends import FreshDatabase
from tests.support.live_server import LiveServer, live_server
from tests.support.waiting import wait_until

JOB_TIMEOUT = 60.0
#: short leases so a dead driver's job is taken over quickly
FAST_LEASE = {"lease_seconds": 1.0, "heartbeat_seconds": 0.3}


def _shared_url(tmp_path: Path, fresh_database: FreshDatabase) -> str:
    """One database for several servers: the profile's, or one SQLite file."""
    return fresh_database.url or f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"


def _seed_job(
    server: LiveServer,
    job_id: str,
    items: list[str],
    *,
    owner: str | None,
    expires: datetime | None,
) -> int:
    server.make_token("bulk", balance_yuan="10", name="bulk")
    token_id = int(server.scalar("SELECT id FROM tokens WHERE name = 'bulk'"))
    server.execute(
        "INSERT INTO bulk_jobs (id, token_id, name, status, total, created_at, lease_owner, "
        "lease_expires_at) VALUES (:id, :t, '', 'running', :n, :now, :owner, :exp)",
        id=job_id,
        t=token_id,
        n=len(items),
        now=datetime.now(UTC),
        owner=owner,
        exp=expires,
    )
    for position, item in enumerate(items):
        server.execute(
            "INSERT INTO bulk_job_items (job_id, position, item_id, state, calls, charged) "
            "VALUES (:j, :p, :i, 'waiting', 0, 0)",
            j=job_id,
            p=position,
            i=item,
        )
    return token_id


def _wait_done(server: LiveServer, job_id: str) -> None:
    wait_until(
        lambda: server.scalar("SELECT status FROM bulk_jobs WHERE id = :j", j=job_id) == "done",
        what=f"job {job_id} to finish",
        timeout=JOB_TIMEOUT,
    )


def test_a_job_whose_process_died_is_taken_over(
    tmp_path: Path, fresh_database: FreshDatabase
) -> None:
    url = _shared_url(tmp_path, fresh_database)
    with live_server(database_url=url, **FAST_LEASE) as server:
        # as left by a process killed mid-job: running, leased, lease running out
        _seed_job(
            server,
            "j_dead",
            ["700001", "700002", "700003"],
            owner="gone-host:4242:dead",
            expires=datetime.now(UTC) + timedelta(seconds=1),
        )
        _wait_done(server, "j_dead")
        assert server.rows(
            "SELECT item_id, state, charged FROM bulk_job_items WHERE job_id = 'j_dead' "
            "ORDER BY position"
        ) == [
            ("700001", "succeeded", 100),
            ("700002", "succeeded", 100),
            ("700003", "succeeded", 100),
        ]
        assert server.rows(
            "SELECT lease_owner, lease_expires_at FROM bulk_jobs WHERE id = 'j_dead'"
        ) == [(None, None)]


def test_only_one_of_two_processes_drives_a_job(
    tmp_path: Path, fresh_database: FreshDatabase
) -> None:
    url = _shared_url(tmp_path, fresh_database)
    with ExitStack() as stack:
        first = stack.enter_context(live_server(database_url=url, **FAST_LEASE))
        second = stack.enter_context(live_server(database_url=url, **FAST_LEASE))
        items = [str(710_000 + n) for n in range(12)]
        _seed_job(first, "j_two", items, owner=None, expires=None)

        # both processes (and their lease watchers) try to start the unclaimed job
        for server in (first, second):
            server.run(lambda _ctx, s=server: s.app.state.jobs.resume_unfinished())
        _wait_done(first, "j_two")
        rows = first.rows("SELECT calls, charged, state FROM bulk_job_items WHERE job_id = 'j_two'")
        # one driver: every item was asked and charged exactly once
        assert rows == [(1, 100, "succeeded")] * len(items)
        assert first.scalar("SELECT count(*) FROM ledger WHERE kind = 'charge'") == len(items)


def test_a_job_items_charge_is_in_its_total_without_the_items_answer_saved(
    live: LiveServer,
) -> None:
    """The charge adds itself to the item's total: a kill right after it loses nothing."""
    token_id = _seed_job(live, "j_kill", ["720001"], owner="someone-else", expires=None)
    row_id = int(live.scalar("SELECT id FROM bulk_job_items WHERE job_id = 'j_kill'"))

    async def charge_like_the_runner(ctx: ServerContext) -> int:
        admission = ctx.admission
        identity = await admission.identity_for_token(token_id)
        answer = await admission.answer(
            identity, "720001", "r-kill", origin=JobOrigin("j_kill", row_id)
        )
        return int(answer.code)

    assert live.run(charge_like_the_runner) == 0
    # the runner never saved this item's answer (as if killed right after the charge)
    assert live.rows(
        "SELECT state, calls, charged FROM bulk_job_items WHERE id = :r", r=row_id
    ) == [("waiting", 0, 100)]
    assert live.scalar("SELECT count(*) FROM call_records WHERE request_id = 'r-kill'") == 1
