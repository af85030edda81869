"""How a journal commits: one open transaction shared by the writes of an event-loop turn,
and the answers recorded but not yet written to their item rows.

``inflight`` — the intent — is committed *before* each call
(:meth:`GroupCommit.commit_turn` lets the items that reach their call in the same
event-loop turn share that commit: each call waits for it). The answers are committed
in one of two ways:

* ``durable`` (the default, and whenever the server has not said it honours
  ``Idempotency-Key`` — the vendor): at the end of the event-loop turn they arrived in,
  sharing that commit with the other answers and ``inflight`` marks of the turn. A crash
  then costs at most the calls on the wire: their items are the only ones left
  ``inflight``.
* grouped (against a server that honours keys): they ride along with the next
  ``inflight`` commit, or are committed after at most :data:`FLUSH_SECONDS`, or on
  :meth:`GroupCommit.flush` — one commit per call instead of three. A crash can lose the
  answers of the last moment; the rerun asks for those items again under the same
  ``Idempotency-Key``, which that server answers free.

WAL mode with ``synchronous=NORMAL``: every commit survives a process crash; an
operating-system crash may lose the last few.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

#: Longest time an answer waits in the group-commit transaction.
FLUSH_SECONDS = 0.2

#: What a call's answer puts on its item row: calls, code, request id, task id.
Answer = tuple[int, int | None, str | None, str | None]


class GroupCommit:
    """The group-commit transaction of one journal (module docstring)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._open = False
        self._opened_at = 0.0
        self._committed: asyncio.Future[None] | None = None
        #: item id -> the answers recorded, not yet on the item row
        self._answers: dict[str, Answer] = {}
        #: Commit answers at the end of their event-loop turn; off only against a server
        #: that honours ``Idempotency-Key``.
        self.durable = True

    def begin(self) -> None:
        """Open the group-commit transaction unless it is open."""
        if not self._open:
            self._db.execute("BEGIN IMMEDIATE")
            self._open = True
            self._opened_at = time.monotonic()

    def flush(self) -> None:
        """Commit the answers recorded since the last commit."""
        self.apply_answers()
        if self._open:
            self._open = False
            self._db.execute("COMMIT")

    def transaction(self) -> Transaction:
        """A transaction of its own, after committing what is pending."""
        self.flush()
        return Transaction(self._db)

    def add_answer(
        self, item_id: str, code: int | None, request_id: str | None, task: str | None
    ) -> None:
        """One more answer for ``item_id`` (written with its next state change)."""
        calls, _, _, old_task = self._answers.get(item_id, (0, None, None, None))
        self._answers[item_id] = (calls + 1, code, request_id, task or old_task)

    def take_answer(self, item_id: str) -> Answer | None:
        """The answers of ``item_id`` not yet on its row (no longer pending here)."""
        return self._answers.pop(item_id, None)

    def apply_answers(self) -> None:
        """Write the item-row part of the answers no state change has carried yet."""
        if not self._answers:
            return
        now = time.time()
        rows = [
            (calls, code, request_id, task_id, now, item_id)
            for item_id, (calls, code, request_id, task_id) in self._answers.items()
        ]
        self._answers.clear()
        self.begin()
        self._db.executemany(
            "UPDATE items SET calls = calls + ?, code = ?, request_id = ?, "
            "task_id = coalesce(?, task_id), updated_at = ? WHERE item_id = ?",
            rows,
        )

    def answered(self) -> None:
        """A write of an answer: commit now or soon, as :attr:`durable` says."""
        if not self.durable:
            if time.monotonic() - self._opened_at >= FLUSH_SECONDS:
                self.flush()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if self._committed is None:
            self._committed = loop.create_future()
            loop.call_soon(self._commit_turn_now)

    async def commit_turn(self) -> None:
        """Return once everything written in this event-loop turn is committed, in one
        commit with every other write of the turn."""
        committed = self._committed
        if committed is None:
            loop = asyncio.get_running_loop()
            committed = self._committed = loop.create_future()
            loop.call_soon(self._commit_turn_now)
        # shielded: a cancelled caller must not cancel the commit the others wait for
        await asyncio.shield(committed)

    def _commit_turn_now(self) -> None:
        committed, self._committed = self._committed, None
        assert committed is not None
        try:
            self.flush()
        except BaseException as exc:  # every waiter gets it; none makes its call
            committed.set_exception(exc)
            committed.exception()  # answers-only turns have no waiter to retrieve it
        else:
            committed.set_result(None)


class Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
