"""Run ``jditem`` with every SQLite statement counted (benchmark instrumentation).

``python benchmarks/_sqlite_trace.py COUNTS.json serve --db …`` starts the real CLI
after wrapping :func:`sqlite3.connect` so that each connection (aiosqlite's, the
writer thread's) reports every statement it executes to a trace callback; the counts,
keyed by a normalised statement (``BEGIN``, ``COMMIT``, ``INSERT INTO ledger``, …),
are written to ``COUNTS.json`` four times a second. The callback costs CPU, so the
figures of a traced server are statement counts only, never timings.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sqlite3.dbapi2
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

_counts: Counter[str] = Counter()
_lock = threading.Lock()
_WORDS = re.compile(r"^\s*(\w+)(?:\s+(?:OR\s+\w+\s+)?(?:INTO|FROM)?\s*(\w+))?", re.IGNORECASE)
_FROM = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)


def normalise(sql: str) -> str:
    """``BEGIN``, ``COMMIT``, ``SELECT tokens``, ``INSERT ledger``, ``UPDATE accounts`` …"""
    head = sql.lstrip().split(None, 1)
    verb = head[0].upper() if head else "?"
    if verb in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA"):
        return verb
    table = _FROM.search(sql) if verb in ("SELECT", "DELETE") else None
    if table is None:
        match = _WORDS.match(sql)
        name = match.group(2) if match and match.group(2) else ""
    else:
        name = table.group(1)
    return f"{verb} {name}".strip()


def _trace(sql: str) -> None:
    key = normalise(sql)
    with _lock:
        _counts[key] += 1


_original_connect = sqlite3.connect


def _connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
    connection = _original_connect(*args, **kwargs)
    connection.set_trace_callback(_trace)
    return connection


def _dump_forever(path: Path) -> None:
    while True:
        with _lock:
            snapshot = dict(_counts)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(snapshot))
        tmp.replace(path)
        time.sleep(0.25)


def main() -> None:
    out = Path(sys.argv[1])
    sqlite3.connect = _connect  # type: ignore[assignment]
    sqlite3.dbapi2.connect = _connect  # type: ignore[assignment]
    threading.Thread(target=_dump_forever, args=(out,), daemon=True).start()
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="jditem")
    sys.argv = ["jditem", *sys.argv[2:]]
    script.load()()


if __name__ == "__main__":
    main()
