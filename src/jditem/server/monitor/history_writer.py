"""When an observation reaches the history: with its charge, or as a coalesced confirmation.

A hot item is received many times a second with the same state; each of those calls only
moves its point's ``last_confirmed_at``. :class:`HistoryWriter` keeps, per process, the
digest of the newest point it wrote for each (account, item); an observation with that
same digest is *deferred*: kept in memory (the latest per key) and written by a flush
every ``flush_seconds`` (``JDITEM_HISTORY_FLUSH_SECONDS``, default 1 s) — one
conditional ``UPDATE`` per hot item per flush instead of one per call. Every other
observation (a first sight, a change, or one this process has not seen) goes into its
charge's transaction, together with the deferred confirmation of its key, if any,
written first: the point before a change keeps its last confirmation.

Nothing that is a change waits: a deferred observation showed the state this process
last wrote. If another process has appended a newer point meanwhile (scale-out), the
flush folds the observation like any other (:func:`.history.record` with
``deferred=True``): when that newer point started after the observation, the
observation is older news and is dropped; otherwise it is a change back, appended.

Bound: a kill -9 loses the deferred confirmations of the last ``flush_seconds`` — a
point's ``last_confirmed_at`` may then lag by that much. A change this process sees as
one is never deferred; only in scale-out can a deferred observation turn out to be a
change back (another process stored a newer point first), and a kill -9 within that
second loses it until the item's next observation. Shutdown flushes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from jditem.server.monitor.history import Seen, record_deferred
from jditem.server.store.db import Database

__all__ = ["HistoryWriter"]

log = logging.getLogger("jditem.server.monitor.history")

#: Keys whose newest digest a process remembers; past this the memory starts afresh
#: (a forgotten key only costs its next observation a write with its charge).
MAX_KNOWN = 100_000

_Key = tuple[int, str]


class HistoryWriter:
    """Decides which observations wait for the flush (see the module docstring)."""

    def __init__(self, db: Database, *, flush_seconds: float = 1.0) -> None:
        self._db = db
        self._flush_seconds = flush_seconds
        self._known: dict[_Key, str] = {}
        self._pending: dict[_Key, Seen] = {}
        self._runner: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def confirms(self, seen: Seen) -> bool:
        """True when ``seen`` only confirms the newest point this process wrote for its
        key: once it is answered, :meth:`keep` it for the flush; else write it with its
        charge (:meth:`with_pending`) and tell :meth:`written`."""
        key = (seen.account_id, seen.item_id)
        return self._runner is not None and self._known.get(key) == seen.state.digest

    def keep(self, seen: Seen) -> None:
        """Defer the answered confirmation ``seen`` to the next flush (the latest per key)."""
        key = (seen.account_id, seen.item_id)
        kept = self._pending.get(key)
        if kept is None or kept.at < seen.at:
            self._pending[key] = seen

    def with_pending(self, seen: Seen) -> tuple[Seen, ...]:
        """``seen`` after the deferred confirmation of its key (taken out of the buffer)."""
        kept = self._pending.pop((seen.account_id, seen.item_id), None)
        return (seen,) if kept is None else (kept, seen)

    def written(self, seen: Seen) -> None:
        """``seen`` is committed: its state is the newest point of its key."""
        if len(self._known) >= MAX_KNOWN:
            self._known.clear()
        self._known[(seen.account_id, seen.item_id)] = seen.state.digest

    @property
    def pending(self) -> int:
        """Deferred confirmations waiting for the next flush."""
        return len(self._pending)

    def start(self) -> None:
        """Start the flusher (deferring is off until then)."""
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the flusher, then write what is deferred."""
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_seconds)
            try:  # shielded: stopping never cuts a flush off halfway (stop waits for it)
                await asyncio.shield(self.flush())
            except asyncio.CancelledError:
                raise
            except Exception:  # kept for the next flush
                log.warning("writing deferred history confirmations failed", exc_info=True)

    async def flush(self) -> int:
        """Write the deferred confirmations now; returns how many. If the write fails,
        they wait for the next flush (unless a later confirmation replaced them)."""
        async with self._lock:
            pending, self._pending = self._pending, {}
            if not pending:
                return 0
            try:
                await self._db.write_batch(record_deferred, list(pending.values()))
            except BaseException:
                for seen in pending.values():
                    self.keep(seen)
                raise
            return len(pending)
