"""What a job journal (:mod:`.journal`) holds: its tables, the states of an item, and the
rows it gives back.

Item states::

    todo ──► inflight ──► done       (product stored; the only state that is exported)
               │    ├───► failed     (not supported, invalid, call budget spent; --retry-failed)
               │    ├───► pending    (server task not ready yet; the next run re-attaches)
               │    └───► uncertain  (sent, no complete answer, server ignores the key:
               │                      may have been charged; only --retry-uncertain asks again)
               └─ (crash) stays inflight; the next run settles it (:meth:`.Journal.settle_crashed`):
                  asked again under the same key where the server honours keys, else
                  ``uncertain`` — its call may have been answered, and charged, after the crash
"""

from __future__ import annotations

from dataclasses import dataclass

#: States an item can be in (module docstring).
STATES = ("todo", "inflight", "pending", "done", "failed", "uncertain")
#: States a run works on; ``failed`` joins them with ``--retry-failed``.
OPEN_STATES = ("todo", "inflight", "pending")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY,
    item_id TEXT NOT NULL UNIQUE,
    line_no INTEGER,
    state TEXT NOT NULL DEFAULT 'todo',
    source TEXT,
    code INTEGER,
    calls INTEGER NOT NULL DEFAULT 0,
    task_id TEXT,
    request_id TEXT,
    error TEXT,
    product TEXT,
    updated_at REAL,
    gen INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ix_items_state ON items(state, seq);
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    item_id TEXT NOT NULL,
    code INTEGER,
    http_status INTEGER,
    request_id TEXT,
    outcome TEXT,
    elapsed_ms INTEGER,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_calls_item ON calls(item_id);
CREATE TABLE IF NOT EXISTS rejects (line_no INTEGER PRIMARY KEY, text TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class LoadStats:
    """What loading an input added to a journal."""

    added: int
    duplicates: int
    invalid: int


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed item as the journal remembers it."""

    item_id: str
    code: int | None
    error: str
