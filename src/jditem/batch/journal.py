"""The job journal: one SQLite file per batch job (:mod:`.job_files` says where).

It records each item's state, every HTTP call (code, HTTP status, request id, time) and
the product once it arrived, so a job survives any crash (``kill -9`` included) and a
rerun makes no call for an item already done. How and when it commits:
:mod:`.commits`. No token is ever written here: only item ids, codes, request ids,
task ids and products.

Item states and tables: :mod:`.journal_schema`.

Every call for an item sends ``Idempotency-Key: jditem-<job uid>-<gen>-<item id>``
(:meth:`Journal.idempotency_key`): the journal's random ``job_uid`` and the item's
generation ``gen``, which grows only when the user asks for a fresh paid fetch
(:meth:`Journal.new_generation`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from jditem.batch.commits import GroupCommit
from jditem.batch.journal_schema import OPEN_STATES, SCHEMA, STATES, Failure, LoadStats
from jditem.batch.sqlite import open_local_db
from jditem.formats.items import InvalidLine, ItemLine


class Journal:
    """A job's journal. Not thread-safe: use it from one thread (the event loop's)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = open_local_db(path, SCHEMA)
        self._commits = GroupCommit(self._db)
        # item id -> gen, read along with the open items (see idempotency_key)
        self._gens: dict[str, int] = {}
        self._gens_before: dict[str, int] = {}
        self.job_uid = self._job_uid()

    @property
    def durable_answers(self) -> bool:
        """Commit answers at the end of their event-loop turn (:mod:`.commits`); off only
        against a server that honours ``Idempotency-Key``."""
        return self._commits.durable

    @durable_answers.setter
    def durable_answers(self, durable: bool) -> None:
        self._commits.durable = durable

    def _job_uid(self) -> str:
        """The journal's random job uid, made (and committed) on first open."""
        with self._commits.transaction():
            self._db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('job_uid', ?)",
                (secrets.token_hex(8),),
            )
        uid = self.get_meta("job_uid")
        assert uid is not None
        return uid

    def flush(self) -> None:
        """Commit the answers recorded since the last commit (:mod:`.commits`)."""
        self._commits.flush()

    def close(self) -> None:
        """Commit what is pending and close the database."""
        self.flush()
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- metadata -------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A stored metadata value, or ``None``."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, **values: str) -> None:
        """Store metadata values (never a token)."""
        with self._commits.transaction():
            self._db.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )

    # -- loading --------------------------------------------------------------------

    def load(
        self,
        entries: Iterable[ItemLine | InvalidLine],
        *,
        chunk: int = 5000,
        on_invalid: Any = None,
    ) -> LoadStats:
        """Add the input's items (duplicates collapse on the item id), streaming in chunks.

        ``on_invalid(InvalidLine)`` is called for each invalid line, which is also kept
        in the ``rejects`` table.
        """
        added = duplicates = invalid = 0
        items: list[tuple[str, int]] = []
        rejects: list[tuple[int, str]] = []

        def flush() -> int:
            with self._commits.transaction():
                before = self._db.total_changes
                self._db.executemany(
                    "INSERT OR IGNORE INTO items(item_id, line_no) VALUES (?, ?)", items
                )
                inserted = self._db.total_changes - before
                self._db.executemany(
                    "INSERT OR REPLACE INTO rejects(line_no, text) VALUES (?, ?)", rejects
                )
            return inserted

        for entry in entries:
            if isinstance(entry, InvalidLine):
                invalid += 1
                rejects.append((entry.line_no, entry.text[:200]))
                if on_invalid is not None:
                    on_invalid(entry)
            else:
                items.append((entry.item_id, entry.line_no))
            if len(items) + len(rejects) >= chunk:
                got = flush()
                added += got
                duplicates += len(items) - got
                items.clear()
                rejects.clear()
        got = flush()
        added += got
        duplicates += len(items) - got
        return LoadStats(added=added, duplicates=duplicates, invalid=invalid)

    # -- reading --------------------------------------------------------------------

    def iter_open(
        self, *, retry_failed: bool = False, retry_uncertain: bool = False, page: int = 500
    ) -> Iterator[str]:
        """Item ids still to work on, in input order, paged (safe while updating rows);
        failed and uncertain items only when asked for."""
        states = (
            *OPEN_STATES,
            *(("failed",) if retry_failed else ()),
            *(("uncertain",) if retry_uncertain else ()),
        )
        marks = ",".join("?" * len(states))
        last = 0
        while True:
            rows = self._db.execute(
                f"SELECT seq, item_id, gen FROM items WHERE seq > ? AND state IN ({marks}) "
                "ORDER BY seq LIMIT ?",
                (last, *states, page),
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            # this page's and the previous page's gens (an item is asked for shortly after
            # it is yielded); older ones are read again if ever needed
            self._gens_before, self._gens = self._gens, {str(r[1]): int(r[2]) for r in rows}
            for _, item_id, _gen in rows:
                yield str(item_id)

    def iter_done(self, *, page: int = 500) -> Iterator[tuple[str, str]]:
        """``(requested item id, product JSON)`` of every done item, in input order, paged."""
        last = 0
        while True:
            rows = self._db.execute(
                "SELECT seq, item_id, product FROM items WHERE seq > ? AND state = 'done' "
                "ORDER BY seq LIMIT ?",
                (last, page),
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            for _, item_id, product in rows:
                yield str(item_id), str(product)

    def failed_ids(self) -> list[str]:
        """The ids of every failed item, in input order."""
        return self.ids_in("failed")

    def ids_in(self, state: str, limit: int | None = None) -> list[str]:
        """The ids of the items in ``state``, in input order (at most ``limit``)."""
        self._commits.apply_answers()
        rows = self._db.execute(
            "SELECT item_id FROM items WHERE state = ? ORDER BY seq LIMIT ?",
            (state, -1 if limit is None else limit),
        )
        return [str(row[0]) for row in rows]

    def counts(self) -> dict[str, int]:
        """Items per state (every state present, zero when none), plus ``cached``."""
        found = dict.fromkeys(STATES, 0)
        for state, n in self._db.execute("SELECT state, count(*) FROM items GROUP BY state"):
            found[str(state)] = int(n)
        row = self._db.execute(
            "SELECT count(*) FROM items WHERE state = 'done' AND source = 'cache'"
        ).fetchone()
        found["cached"] = int(row[0])
        found["total"] = sum(found[s] for s in STATES)
        return found

    def failures(self, limit: int = 20) -> list[Failure]:
        """Up to ``limit`` failed items with their last code and error text."""
        self._commits.apply_answers()
        rows = self._db.execute(
            "SELECT item_id, code, error FROM items WHERE state = 'failed' ORDER BY seq LIMIT ?",
            (limit,),
        ).fetchall()
        return [Failure(str(r[0]), r[1], str(r[2] or "")) for r in rows]

    def call_codes(self) -> dict[str, int]:
        """Calls per business code (``"none"`` for calls without one), over all runs."""
        rows = self._db.execute("SELECT code, count(*) FROM calls GROUP BY code ORDER BY code")
        return {("none" if c is None else str(c)): int(n) for c, n in rows}

    def call_count(self) -> int:
        """HTTP calls recorded over all runs."""
        return int(self._db.execute("SELECT count(*) FROM calls").fetchone()[0])

    def idempotency_key(self, item_id: str) -> str:
        """``jditem-<job uid>-<gen>-<item id>``: the same for every call of the item
        until :meth:`new_generation` (no token in it)."""
        gen = self._gens.get(item_id)
        if gen is None:
            gen = self._gens_before.get(item_id)
        if gen is None:
            row = self._db.execute("SELECT gen FROM items WHERE item_id = ?", (item_id,))
            found = row.fetchone()
            gen = int(found[0]) if found is not None else 0
        return f"jditem-{self.job_uid}-{gen}-{item_id}"

    # -- writing (group-committed, see the module docstring) ------------------------

    def new_generation(self, *, refresh: bool = False, retry_failed: bool = False) -> int:
        """New idempotency keys for the items the user asked to fetch (and pay) afresh:
        every item still to work on with ``refresh``, failed items with ``retry_failed``.
        Returns how many items got a new key."""
        states = [*OPEN_STATES] if refresh else []
        if retry_failed:
            states.append("failed")
        if not states:
            return 0
        marks = ",".join("?" * len(states))
        self._gens, self._gens_before = {}, {}
        with self._commits.transaction():
            before = self._db.total_changes
            self._db.execute(f"UPDATE items SET gen = gen + 1 WHERE state IN ({marks})", states)
            return self._db.total_changes - before

    def mark_inflight(self, item_id: str) -> None:
        """Record that a call for ``item_id`` is about to be made; committed at once,
        with every answer recorded before it."""
        self._set(item_id, state="inflight")
        self.flush()

    async def mark_inflight_grouped(self, item_id: str) -> None:
        """:meth:`mark_inflight` for many items at once: returns once "in flight" is
        committed, in one commit with every other item marked in the same turn of the
        event loop (and every answer recorded before it)."""
        self._set(item_id, state="inflight")
        await self._commits.commit_turn()

    def record_call(
        self,
        item_id: str,
        *,
        code: int | None,
        http_status: int | None,
        request_id: str | None,
        outcome: str,
        elapsed_s: float,
        task_id: str | None = None,
    ) -> None:
        """Record one HTTP call and its answer.

        The call row is written at once; the item row's call count, code and request id
        ride along with the item's next state change (or the next commit), in the same
        transaction: one ``UPDATE`` per answer instead of two.
        """
        now = time.time()
        self._commits.begin()
        self._db.execute(
            "INSERT INTO calls(item_id, code, http_status, request_id, outcome, elapsed_ms, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (item_id, code, http_status, request_id, outcome, round(elapsed_s * 1000), now),
        )
        self._commits.add_answer(item_id, code, request_id, task_id)
        if self._commits.durable:
            self._commits.answered()

    def mark_done(self, item_id: str, product_json: str, *, source: str) -> None:
        """Store the product: from here on the item is never asked for again."""
        self._set(item_id, state="done", product=product_json, source=source, error=None)

    def mark_failed(self, item_id: str, *, code: int | None, error: str) -> None:
        """The item cannot be fetched (``--retry-failed`` tries again)."""
        self._set(item_id, state="failed", code=code, error=error)

    def mark_pending(self, item_id: str, *, error: str | None = None) -> None:
        """The server task is not ready yet; the next run re-attaches to it."""
        self._set(item_id, state="pending", error=error)

    def mark_todo(self, item_id: str) -> None:
        """Put an item back (a run stopped before asking for it)."""
        self._set(item_id, state="todo")

    def mark_uncertain(self, item_id: str, *, error: str) -> None:
        """The item's call was sent but got no complete answer, and the server does not
        honour ``Idempotency-Key``: it may have been charged; only ``--retry-uncertain``
        asks again."""
        self._set(item_id, state="uncertain", error=error)

    # -- what the server said about Idempotency-Key, and crash recovery ------------

    def honoured_keys(self, base_url: str) -> int | None:
        """The key ttl (seconds) ``base_url`` announced in an earlier run (it honours
        ``Idempotency-Key``), else ``None``."""
        if self.get_meta("keys_honoured_by") != base_url:
            return None
        ttl = self.get_meta("keys_honoured_ttl")
        return int(ttl) if ttl is not None and ttl.isdigit() else None

    def remember_honoured_keys(self, base_url: str, ttl: int) -> None:
        """Keep that ``base_url`` honours keys for ``ttl`` s (for :meth:`settle_crashed`)."""
        self.set_meta(keys_honoured_by=base_url, keys_honoured_ttl=str(ttl))

    def settle_crashed(self, *, keys_ttl: int | None, base_url: str) -> int:
        """Settle the items a previous run left ``inflight`` (it crashed, or its calls on
        the wire were abandoned); returns how many became ``uncertain``.

        Their last call may have been answered — and charged — after the run ended. Where
        the server honours keys (``keys_ttl``, and the item was marked within it), they
        stay open: the next call carries the same key, a free replay if it was charged.
        Otherwise they become ``uncertain``.
        """
        where = "state = 'inflight'"
        params: tuple[Any, ...] = (_crash_error(base_url, keys_ttl),)
        if keys_ttl is not None:  # marked within the key's ttl: asked again, free if paid
            where += " AND (updated_at IS NULL OR updated_at <= ?)"
            params += (time.time() - keys_ttl,)
        with self._commits.transaction():
            before = self._db.total_changes
            self._db.execute(
                f"UPDATE items SET state = 'uncertain', error = ? WHERE {where}", params
            )
            return self._db.total_changes - before

    def _set(self, item_id: str, **fields: Any) -> None:
        # One UPDATE per state change, carrying the item's answers recorded since its
        # last one (see record_call).
        fields["updated_at"] = time.time()
        answer = self._commits.take_answer(item_id)
        self._commits.begin()
        if answer is None:
            sets = ", ".join(f"{k} = ?" for k in fields)
            self._db.execute(
                f"UPDATE items SET {sets} WHERE item_id = ?", (*fields.values(), item_id)
            )
        else:
            calls, code, request_id, task_id = answer
            answer_fields = {"code": code, "request_id": request_id, **fields}
            sets = ", ".join(f"{k} = ?" for k in answer_fields)
            self._db.execute(
                f"UPDATE items SET calls = calls + ?, task_id = coalesce(?, task_id), {sets} "
                "WHERE item_id = ?",
                (calls, task_id, *answer_fields.values(), item_id),
            )
        self._commits.answered()


def _crash_error(base_url: str, keys_ttl: int | None) -> str:
    why = (
        "does not honour Idempotency-Key"
        if keys_ttl is None
        else f"keeps an Idempotency-Key only {keys_ttl} s, and that has passed"
    )
    return (
        "in flight when an earlier run ended (crash, kill or abandoned call): the call may "
        f"have been answered and charged by {base_url}, which {why}, without the answer "
        "reaching the journal"
    )
