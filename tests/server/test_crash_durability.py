"""Nothing answered is lost on kill -9 (issue 8 item 5), on each store profile.

A real ``jditem serve`` process answers charged calls, then is killed with SIGKILL
(no shutdown, no final flush). Every code-0 answer the client saw must have its
ledger row AND its call record (and the hourly rollup its spend): the call record of
a charged call is written in the charge's transaction, and that of a free code-0
answer (an idempotent replay) is written before the answer; neither is only buffered.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import sqlalchemy as sa
from typer.testing import CliRunner

from jditem.cli.app import build_app
from tests.support.backends import Backend, FreshDatabase
from tests.support.processes import free_port
from tests.support.waiting import wait_until

START_TIMEOUT = 60.0
V2 = "/api/jd/get-item-detail/v2"


def _admin(db: str, *args: str) -> str:
    result = CliRunner().invoke(build_app(), ["admin", *args, "--db", db])
    assert result.exit_code == 0, result.output
    return result.stdout


def _wait_until_serving(base: str, proc: subprocess.Popen[bytes]) -> None:
    def serving() -> bool:
        assert proc.poll() is None, "jditem serve exited during startup"
        try:
            return httpx.get(base + "/api/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(serving, what="jditem serve to answer", timeout=START_TIMEOUT, interval=0.1)


def test_kill_9_loses_no_answered_call(
    tmp_path: Path, backend: Backend, fresh_database: FreshDatabase
) -> None:
    if backend.cluster is not None:
        assert fresh_database.url is not None  # creates the database
        assert fresh_database.name is not None
        db = backend.cluster.sync_url(fresh_database.name)  # as typed: postgresql://…
        check_url = db.replace("postgresql://", "postgresql+psycopg://", 1)
    else:
        db = str(tmp_path / "server.db")
        check_url = f"sqlite:///{db}"
    _admin(db, "account", "create", "acme", "--balance", "10")
    token = _admin(db, "token", "create", "--account", "acme", "--unlimited").splitlines()[-1]
    port = free_port()
    env = {
        **os.environ,
        "JDITEM_HOME": str(tmp_path),
        "JDITEM_SANDBOX_LATENCY_MS": "[5, 20]",
        # buffered call records would never be written before the kill
        "JDITEM_CALL_RECORD_FLUSH_SECONDS": "3600",
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "jditem.cli", "serve", "--db", db, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    answered = 0  # code 0, charged
    replayed = 0  # code 0, free (a repeat under a paid Idempotency-Key)
    try:
        _wait_until_serving(base, proc)
        with httpx.Client(base_url=base, timeout=60) as client:
            for n in range(36):
                headers = {"Authorization": f"Bearer {token}"}
                if n >= 30:  # the same key and item: one charge, then free replays
                    headers["Idempotency-Key"] = "crash-test-key"
                response = client.get(V2, params={"itemId": str(100_000 + n % 5)}, headers=headers)
                if response.json()["code"] != 0:
                    continue
                if response.headers.get("Idempotent-Replayed") == "true":
                    replayed += 1
                else:
                    answered += 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert answered >= 25  # the sandbox answers within the wait; a few 102s are fine
    assert replayed >= 1

    engine = sa.create_engine(check_url)
    try:
        with engine.connect() as conn:
            charges = conn.execute(
                sa.text(
                    "SELECT count(*), coalesce(sum(amount), 0) FROM ledger WHERE kind = 'charge'"
                )
            ).one()
            records = conn.execute(
                sa.text(
                    "SELECT count(*), coalesce(sum(charged), 0) FROM call_records WHERE code = 0"
                )
            ).one()
            rollup = conn.execute(
                sa.text(
                    "SELECT coalesce(sum(calls), 0), coalesce(sum(spend), 0) "
                    "FROM usage_hourly WHERE code = 0"
                )
            ).one()
            balance = conn.execute(sa.text("SELECT balance FROM accounts")).scalar_one()
    finally:
        engine.dispose()
    assert charges[0] == answered
    assert records[0] == answered + replayed  # the free replays have their records too
    assert records[1] == -charges[1] == 100_000 - balance
    assert tuple(rollup) == (answered + replayed, records[1])
