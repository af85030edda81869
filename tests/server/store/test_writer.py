"""The SQLite writer's inline transactions (the charge group commits on the loop's thread).

A real SQLite file; "another process" holding the write lock is a second connection
(SQLite's locks are per connection, so it stands for any other writer of the file).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from tests.support.waiting import await_until, callbacks_so_far

from jditem.server.store import sqlite
from jditem.server.store.writer import CHECKPOINT_EVERY, SyncWriter


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "w.db"


@pytest.fixture
def writer(path: Path) -> Iterator[SyncWriter]:
    raw = sqlite3.connect(path)  # the table, in the database file itself (not the WAL)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    raw.commit()
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    found = SyncWriter.for_url(f"sqlite+aiosqlite:///{path}")
    assert found is not None
    yield found
    found.close()


def _insert(conn: Connection, value: str) -> int:
    conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": value})
    return threading.get_ident()


def _rows_in_main_file(path: Path) -> int:
    """Rows of ``t`` in the database file itself, ignoring the WAL (what a checkpoint
    has copied there)."""
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])
    finally:
        conn.close()


def _count(path: Path) -> int:
    """Rows of ``t`` as any reader sees them (WAL included)."""
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])
    finally:
        conn.close()


async def test_inline_runs_on_the_calling_thread_and_commits(
    writer: SyncWriter, path: Path
) -> None:
    assert await writer.run_inline(_insert, "a") == threading.get_ident()
    assert _count(path) == 1

    def fails(conn: Connection) -> None:
        _insert(conn, "b")
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        await writer.run_inline(fails)
    assert _count(path) == 1  # rolled back
    assert await writer.run_inline(_insert, "c") == threading.get_ident()  # still usable
    assert _count(path) == 2


async def test_another_writer_holding_the_lock_sends_the_batch_to_the_thread(
    writer: SyncWriter, path: Path
) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's write transaction
    try:
        started = time.monotonic()
        task = asyncio.ensure_future(writer.run_inline(_insert, "a"))
        await callbacks_so_far()  # the inline attempt ran and gave the loop back
        # the loop never waits for the lock (a busy timeout would hold it for 10 s)
        assert time.monotonic() - started < sqlite.BUSY_TIMEOUT_MS / 1000 / 2
        assert not task.done()  # the writer thread waits for the lock instead
        other.execute("COMMIT")
    finally:
        other.close()
    assert await task != threading.get_ident()  # written by the writer thread
    assert _count(path) == 1
    assert await writer.run_inline(_insert, "b") == threading.get_ident()  # inline again


async def test_inline_commits_are_checkpointed_by_the_thread_not_at_commit(
    writer: SyncWriter, path: Path
) -> None:
    # one commit larger than SQLite's 1,000-page autocheckpoint: not checkpointed on the
    # loop (that would fsync there)
    def large(conn: Connection) -> None:
        conn.execute(text("INSERT INTO t (v) VALUES (hex(randomblob(3000000)))"))

    await writer.run_inline(large)
    assert _rows_in_main_file(path) == 0
    for n in range(CHECKPOINT_EVERY - 1):
        await writer.run_inline(_insert, str(n))
    # the CHECKPOINT_EVERY-th commit has the writer thread checkpoint the WAL
    await await_until(
        lambda: _rows_in_main_file(path) == CHECKPOINT_EVERY,
        what="the inline commits copied into the database file",
    )
