"""Unbounded growth: calls with unknown tokens keep hourly counts and the newest N
records; ``jditem admin prune`` applies the retention settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.live_server import live_server
from typer.testing import CliRunner

from jditem.cli.app import build_app


def test_unknown_token_calls_keep_counts_and_the_newest_samples() -> None:
    with live_server(unknown_token_samples=5) as live:
        for i in range(30):
            live.get("100012043978", f"jd_unknown{i:040d}")
        live.get("100012043978", None)  # no token at all
        live.flush()
        for i in range(3):  # a second flush trims again
            live.get("100012043978", f"jd_again{i:040d}")
        kept = live.scalar("SELECT count(*) FROM call_records WHERE token_id IS NULL")
        counted = live.scalar("SELECT sum(calls) FROM usage_hourly WHERE token_id = 0")
        newest = live.scalar("SELECT max(id) FROM call_records WHERE token_id IS NULL")
        total = live.scalar("SELECT max(id) FROM call_records")
    assert kept == 5
    assert counted == 34
    assert newest == total  # the newest samples are the ones kept


def test_admin_prune_applies_the_retention_settings() -> None:
    old = (datetime.now(UTC) - timedelta(days=400)).strftime("%Y-%m-%d %H:%M:%S.000000")
    with live_server(workers=0) as live:
        token = live.make_token("prune")
        live.get("100012043978", token)
        live.flush()
        recent_calls = live.scalar("SELECT count(*) FROM call_records")
        for i in range(7):
            live.execute(
                "INSERT INTO call_records (request_id, endpoint, code, charged, latency_ms,"
                " created_at) VALUES (:rid, 'v2', 100, 0, 1, :at)",
                rid=f"old-{i}",
                at=old,
            )
            live.execute(
                "INSERT INTO tasks (id, item_id, status, attempt, max_attempts, submitted_at,"
                " finished_at) VALUES (:tid, :item, 'succeeded', 1, 3, :at, :at)",
                tid=f"t_old{i}",
                item=str(500 + i),
                at=old,
            )
        live.execute(
            "INSERT INTO tasks (id, item_id, status, attempt, max_attempts, submitted_at)"
            " VALUES ('t_oldqueued', '999', 'queued', 0, 3, :at)",
            at=old,
        )
        for at in (old, datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.000000")):
            live.execute(
                "INSERT INTO upstream_calls (created_at, item_id, endpoint, outcome, charged,"
                " latency_ms) VALUES (:at, '1', 'v2', 'ok', true, 1)",
                at=at,
            )
            live.execute(
                "INSERT INTO upstream_events (created_at, state, message) VALUES"
                " (:at, 'open', 'test')",
                at=at,
            )
        hourly = live.scalar("SELECT sum(calls) FROM usage_hourly")
        base = ["admin", "--db", str(live.db_path), "prune"]
        dry = CliRunner().invoke(build_app(), [*base, "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "call_records: would delete 7" in dry.stdout
        assert live.scalar("SELECT count(*) FROM call_records") == recent_calls + 7
        done = CliRunner().invoke(build_app(), base)
        assert done.exit_code == 0, done.output
        assert "call_records: deleted 7" in done.stdout
        assert "tasks: deleted 7" in done.stdout
        assert live.scalar("SELECT count(*) FROM call_records") == recent_calls
        assert live.scalar("SELECT count(*) FROM tasks WHERE id = 't_oldqueued'") == 1
        assert "upstream_calls: deleted 1" in done.stdout
        assert "upstream_events: deleted 1" in done.stdout
        assert live.scalar("SELECT count(*) FROM upstream_calls") == 1
        assert live.scalar("SELECT sum(calls) FROM usage_hourly") == hourly
