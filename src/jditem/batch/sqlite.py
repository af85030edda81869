"""The batch side's local SQLite files (journals, the result cache): one way to open them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from jditem.private_files import SQLITE_COMPANIONS, private_file


def open_local_db(path: Path, schema: str) -> sqlite3.Connection:
    """Open (creating folder and schema) a WAL-mode SQLite file in autocommit mode.

    The file and its ``-wal``/``-shm`` are readable by their owner only (0600, folder
    0700 when created: :mod:`jditem.private_files`): journals and the cache hold what
    customers fetched. ``synchronous=NORMAL`` in WAL mode keeps every committed
    transaction across a process crash (``kill -9``); only a power loss can drop the last
    ones.
    """
    private_file(path, SQLITE_COMPANIONS)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")
    db.executescript(schema)
    return db
