"""The job journal: loading, states, paging while updating, persistence."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from jditem.batch.journal import Journal
from jditem.formats.items import ItemLine, parse_lines


def test_load_collapses_duplicates_and_keeps_rejects(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        seen = []
        stats = journal.load(parse_lines(["1", "2", "1", "bad", "3"]), on_invalid=seen.append)
        assert (stats.added, stats.duplicates, stats.invalid) == (3, 1, 1)
        assert [line.line_no for line in seen] == [4]
        again = journal.load(parse_lines(["3", "4"]))
        assert (again.added, again.duplicates) == (1, 1)
        assert list(journal.iter_open()) == ["1", "2", "3", "4"]


def test_states_and_persistence_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as journal:
        journal.load(parse_lines(["1", "2", "3", "4"]))
        journal.mark_inflight("1")
        journal.record_call(
            "1", code=0, http_status=200, request_id="r1", outcome="ready", elapsed_s=0.01
        )
        journal.mark_done("1", '{"sku_id":"1"}', source="api")
        journal.mark_failed("2", code=202, error="not supported")
        journal.mark_inflight("3")  # "crash" while in flight
        journal.set_meta(output="out.jsonl")
    with Journal(path) as journal:
        counts = journal.counts()
        assert counts["done"] == 1
        assert counts["failed"] == 1
        assert counts["inflight"] == 1
        assert counts["todo"] == 1
        assert counts["total"] == 4
        assert list(journal.iter_open()) == ["3", "4"]
        assert list(journal.iter_open(retry_failed=True)) == ["2", "3", "4"]
        assert [product for _, product in journal.iter_done()] == ['{"sku_id":"1"}']
        assert journal.call_codes() == {"0": 1}
        assert journal.get_meta("output") == "out.jsonl"
        assert journal.failures()[0].code == 202


def test_iter_open_pages_safely_while_items_change(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.load(parse_lines([str(i) for i in range(1, 1201)]))
        seen = []
        for item_id in journal.iter_open(page=100):
            seen.append(item_id)
            journal.mark_done(item_id, "{}", source="api")
        assert seen == [str(i) for i in range(1, 1201)]
        assert journal.counts()["done"] == 1200


def test_idempotency_keys_are_stable_until_a_new_generation(tmp_path: Path) -> None:
    path = tmp_path / "jobs" / "keys.sqlite"
    with Journal(path) as journal:
        journal.load([ItemLine(1, "100000000001"), ItemLine(2, "100000000002")])
        uid = journal.job_uid
        first = journal.idempotency_key("100000000001")
        assert first == f"jditem-{uid}-0-100000000001"
        journal.mark_failed("100000000002", code=301, error="x")
    with Journal(path) as reopened:  # a rerun after a crash: the same keys
        assert reopened.job_uid == uid
        assert reopened.idempotency_key("100000000001") == first
        assert reopened.new_generation(retry_failed=True) == 1  # only the failed item
        assert reopened.idempotency_key("100000000001") == first
        assert reopened.idempotency_key("100000000002") == f"jditem-{uid}-1-100000000002"
        assert reopened.new_generation(refresh=True) == 1  # the open item
        assert reopened.idempotency_key("100000000001") == f"jditem-{uid}-1-100000000001"
        assert reopened.new_generation() == 0
    with Journal(tmp_path / "jobs" / "other.sqlite") as other:
        assert other.job_uid != uid


def committed_states(path: Path) -> dict[str, str]:
    """Each item's state as another connection sees it (what a crash would keep)."""
    other = sqlite3.connect(path)
    try:
        return dict(other.execute("SELECT item_id, state FROM items"))
    finally:
        other.close()


def test_inflight_commits_at_once_answers_ride_along_with_the_next_commit(
    tmp_path: Path,
) -> None:
    """Group commit (against a server that honours keys): one commit per call; what
    another process sees is never behind an ``inflight`` mark."""
    path = tmp_path / "job.sqlite"
    journal = Journal(path)
    journal.durable_answers = False
    journal.load(parse_lines(["1", "2"]))
    journal.mark_inflight("1")
    assert committed_states(path) == {"1": "inflight", "2": "todo"}
    journal.record_call(
        "1", code=0, http_status=200, request_id="r1", outcome="ready", elapsed_s=0.01
    )
    journal.mark_done("1", '{"sku_id":"1"}', source="api")
    assert journal.ids_in("done") == ["1"]  # the journal itself sees its answers at once
    journal.mark_inflight("2")  # the next call commits them first
    assert committed_states(path) == {"1": "done", "2": "inflight"}
    journal.mark_failed("2", code=202, error="not supported")
    journal.close()  # and closing commits the rest
    assert committed_states(path) == {"1": "done", "2": "failed"}


async def test_grouped_inflight_shares_one_commit_and_returns_only_once_committed(
    tmp_path: Path,
) -> None:
    """Items reaching their call in the same loop turn share one commit; each waiter
    returns only after it, and a cancelled waiter does not cancel it for the others."""
    path = tmp_path / "job.sqlite"
    journal = Journal(path)
    journal.load(parse_lines(["1", "2", "3"]))
    journal.record_call(
        "1", code=0, http_status=200, request_id="r0", outcome="ready", elapsed_s=0.01
    )
    first = asyncio.create_task(journal.mark_inflight_grouped("1"))
    second = asyncio.create_task(journal.mark_inflight_grouped("2"))
    cancelled = asyncio.create_task(journal.mark_inflight_grouped("3"))
    await asyncio.sleep(0)  # all three marked, the commit is scheduled
    cancelled.cancel()
    await asyncio.gather(first, second)
    assert committed_states(path) == {"1": "inflight", "2": "inflight", "3": "inflight"}
    assert journal.call_count() == 1
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    journal.close()


async def test_durable_answers_are_committed_in_the_turn_they_arrive(tmp_path: Path) -> None:
    """Against a server that ignores Idempotency-Key (the default), an answer is
    committed at the end of its event-loop turn — not with the next call or 0.2 s later —
    so a crash costs at most the calls on the wire."""
    path = tmp_path / "job.sqlite"
    journal = Journal(path)
    assert journal.durable_answers
    journal.load(parse_lines(["1", "2", "3"]))
    await journal.mark_inflight_grouped("1")
    await journal.mark_inflight_grouped("2")
    journal.record_call(
        "1", code=0, http_status=200, request_id="r1", outcome="ready", elapsed_s=0.01
    )
    journal.mark_done("1", '{"sku_id":"1"}', source="api")
    journal.record_call(
        "2", code=102, http_status=202, request_id="r2", outcome="pending", elapsed_s=0.01
    )
    await asyncio.sleep(0)  # the end of the turn: one commit for both answers
    assert committed_states(path) == {"1": "done", "2": "inflight", "3": "todo"}
    assert _scalar(path, "SELECT count(*) FROM calls") == 2
    journal.close()


def _scalar(path: Path, sql: str) -> Any:
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.close()


def _stamp(path: Path, item: str, age_s: float) -> None:
    """Make ``item``'s last change ``age_s`` seconds old."""
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE items SET updated_at = ? WHERE item_id = ?", (time.time() - age_s, item))
    db.close()


def test_a_crash_leaves_uncertain_items_unless_the_server_honours_keys(tmp_path: Path) -> None:
    """What a crashed run left in flight may have been answered — and charged — after the
    crash: against a server that ignores keys it is uncertain (never asked again by
    itself); where keys are honoured, it is asked again under its key while that lasts."""
    path = tmp_path / "job.sqlite"
    url = "http://127.0.0.1:9"
    with Journal(path) as journal:
        journal.load(parse_lines(["1", "2", "3", "4"]))
        for item in ("1", "2", "3"):
            journal.mark_inflight(item)
    _stamp(path, "3", age_s=7200)
    with Journal(path) as journal:  # the rerun, against a server that ignores keys
        assert journal.honoured_keys(url) is None
        assert journal.settle_crashed(keys_ttl=None, base_url=url) == 3
        assert list(journal.iter_open()) == ["4"]
        assert list(journal.iter_open(retry_uncertain=True)) == ["1", "2", "3", "4"]
        assert journal.ids_in("uncertain") == ["1", "2", "3"]
        error = _scalar(path, "SELECT error FROM items WHERE item_id = '1'")
        assert "does not honour Idempotency-Key" in error
    with Journal(path) as journal:  # the same crash against a server that honours keys
        journal.remember_honoured_keys(url, 3600)
        for item in ("1", "2", "3"):
            journal.mark_inflight(item)
    _stamp(path, "3", age_s=7200)
    with Journal(path) as journal:
        ttl = journal.honoured_keys(url)
        assert ttl == 3600
        assert journal.honoured_keys("http://127.0.0.1:10") is None, "per base URL"
        assert journal.settle_crashed(keys_ttl=ttl, base_url=url) == 1  # its key expired
        assert list(journal.iter_open()) == ["1", "2", "4"]
        assert journal.ids_in("uncertain") == ["3"]
