"""The local result cache: ``JDITEM_HOME/cache.sqlite``, shared by every job.

Token-free by construction: rows are keyed by the server's base URL (without any
query string) and the item id, and hold the normalized product JSON or a "not
supported" verdict with the time it was fetched. A batch serves items fetched within
``--max-age`` from here without an HTTP call; ``--refresh`` bypasses the lookup (and
still stores what it fetches).

Writes are group-committed: :meth:`ResultCache.put` buffers the row (lookups see it at
once) and the buffer is written in one transaction every :data:`FLUSH_ROWS` rows or
:data:`FLUSH_SECONDS`, and on :meth:`ResultCache.flush` / :meth:`ResultCache.close`.
A crash loses at most the buffered rows — a cache miss, never a lost item: the job's
journal holds every product it was told about.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from jditem.batch.sqlite import open_local_db

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    origin TEXT NOT NULL,
    item_id TEXT NOT NULL,
    status TEXT NOT NULL,
    product TEXT,
    fetched_at REAL NOT NULL,
    PRIMARY KEY (origin, item_id)
);
"""

CacheStatus = Literal["ok", "not_supported"]

#: Buffered rows that trigger a write.
FLUSH_ROWS = 64
#: Longest time a row waits in the buffer (checked on each ``put``).
FLUSH_SECONDS = 0.5

_PUT = (
    "INSERT OR REPLACE INTO results(origin, item_id, status, product, fetched_at) "
    "VALUES (?, ?, ?, ?, ?)"
)


@dataclass(frozen=True, slots=True)
class CacheHit:
    """A cached answer for one item."""

    status: CacheStatus
    product_json: str | None
    fetched_at: float


def origin_of(base_url: str) -> str:
    """The cache key part naming a server: the URL without query string or fragment."""
    return base_url.split("?", 1)[0].split("#", 1)[0].rstrip("/")


class ResultCache:
    """A small SQLite key-value store of results. Use it from one thread."""

    def __init__(self, path: Path, *, origin: str) -> None:
        self.path = path
        self.origin = origin_of(origin)
        self._db = open_local_db(path, _SCHEMA)
        self._buffer: dict[str, tuple[CacheStatus, str | None, float]] = {}
        self._buffered_at = 0.0

    @classmethod
    def in_home(cls, home: Path, *, origin: str) -> ResultCache:
        """The shared cache under ``home``."""
        return cls(home / "cache.sqlite", origin=origin)

    def get(self, item_id: str, *, max_age: float) -> CacheHit | None:
        """The cached answer when it is at most ``max_age`` seconds old, else ``None``."""
        buffered = self._buffer.get(item_id)
        if buffered is not None:
            status_, product, at = buffered
            if time.time() - at > max_age:
                return None
            return CacheHit(status=status_, product_json=product, fetched_at=at)
        row = self._db.execute(
            "SELECT status, product, fetched_at FROM results WHERE origin = ? AND item_id = ?",
            (self.origin, item_id),
        ).fetchone()
        if row is None or time.time() - float(row[2]) > max_age:
            return None
        status: CacheStatus = "ok" if row[0] == "ok" else "not_supported"
        return CacheHit(status=status, product_json=row[1], fetched_at=float(row[2]))

    def put(self, item_id: str, status: CacheStatus, product_json: str | None = None) -> None:
        """Remember an answer (replacing an older one); buffered, see the module docstring."""
        if not self._buffer:
            self._buffered_at = time.monotonic()
        self._buffer[item_id] = (status, product_json, time.time())
        if len(self._buffer) >= FLUSH_ROWS or time.monotonic() - self._buffered_at >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows in one transaction."""
        if not self._buffer:
            return
        rows = [(self.origin, k, *v) for k, v in self._buffer.items()]
        self._buffer.clear()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(_PUT, rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def forget_not_supported(self, item_ids: Iterable[str]) -> int:
        """Drop the "not supported" verdicts of ``item_ids`` (``--retry-failed`` asks the
        server again instead of repeating the verdict). Returns how many were dropped."""
        self.flush()
        before = self._db.total_changes
        self._db.executemany(
            "DELETE FROM results WHERE origin = ? AND item_id = ? AND status = 'not_supported'",
            ((self.origin, item_id) for item_id in item_ids),
        )
        return self._db.total_changes - before

    def close(self) -> None:
        """Write the buffered rows and close the database."""
        try:
            self.flush()
        finally:
            self._db.close()
