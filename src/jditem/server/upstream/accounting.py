"""Upstream accounting: every upstream call and circuit change recorded.

:class:`UpstreamLedger` writes one ``upstream_calls`` row per upstream call, failures
included (upstream request id, endpoint, code, charged / *possibly* charged, what went
wrong, latency) and one ``upstream_events`` row per circuit change.
:mod:`jditem.server.upstream.summary` reads them back. No row ever holds the upstream
token: what the upstream sends back is scrubbed before it gets here
(:mod:`jditem.server.upstream.scrub`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from jditem.server.clock import Clock, now_utc
from jditem.server.store.db import Database
from jditem.server.store.tables import UpstreamCall, UpstreamEvent
from jditem.server.upstream.circuit import CircuitChange

log = logging.getLogger("jditem.server.upstream")


@dataclass(frozen=True)
class UpstreamCallRow:
    """One upstream call, as recorded."""

    item_id: str
    endpoint: str
    code: int | None
    http_status: int | None
    outcome: str
    upstream_request_id: str | None
    charged: bool
    latency_ms: int
    #: The request was sent and no complete answer came back (SPEC §5).
    possibly_charged: bool = False
    #: What went wrong when no envelope came back ("read timeout", ...).
    failure: str | None = None


class UpstreamLedger:
    """Writes upstream calls and circuit changes (each in its own short transaction)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._pending: set[asyncio.Task[None]] = set()

    async def record_call(self, row: UpstreamCallRow) -> None:
        """Write one upstream call (errors are logged, never raised)."""
        await self._add(
            UpstreamCall(
                created_at=now_utc(self._clock),
                item_id=row.item_id,
                endpoint=row.endpoint,
                code=row.code,
                http_status=row.http_status,
                outcome=row.outcome,
                upstream_request_id=(row.upstream_request_id or None),
                charged=row.charged,
                possibly_charged=row.possibly_charged,
                failure=row.failure,
                latency_ms=row.latency_ms,
            ),
            f"an upstream call for item {row.item_id}",
        )

    def record_call_soon(self, row: UpstreamCallRow) -> None:
        """Write one upstream call in the background (a call cut short by cancellation)."""
        self._background(self.record_call(row))

    def circuit_changed(self, change: CircuitChange) -> None:
        """``Circuit.on_change`` hook: log the change and record it (in the background).

        The operator's ``detail`` (what to change) goes to the log and the record,
        which only operators read; callers see ``message`` alone.
        """
        text = f"{change.message} ({change.detail})" if change.detail else change.message
        log.warning("upstream circuit %s: %s", change.state, text)
        self._background(self._record_event(change, text))

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _record_event(self, change: CircuitChange, text: str) -> None:
        await self._add(
            UpstreamEvent(
                created_at=now_utc(self._clock),
                state=change.state,
                code=change.code,
                message=text,
            ),
            "an upstream circuit change",
        )

    async def _add(self, row: UpstreamCall | UpstreamEvent, what: str) -> None:
        """Write ``row`` in its own short transaction; a failure is logged, never raised."""
        try:
            async with self._db.writing() as session:
                session.add(row)
        except Exception:
            log.exception("could not record %s", what)

    async def drain(self) -> None:
        """Wait for background writes (at shutdown)."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=2.0)
