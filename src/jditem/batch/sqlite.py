"""The batch side's local SQLite files (journals, the result cache): one way to open them."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_local_db(path: Path, schema: str) -> sqlite3.Connection:
    """Open (creating folder and schema) a WAL-mode SQLite file in autocommit mode.

    ``synchronous=NORMAL`` in WAL mode keeps every committed transaction across a
    process crash (``kill -9``); only a power loss can drop the last ones.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")
    db.executescript(schema)
    return db
