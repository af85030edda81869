"""Value objects handed out by the task service: :class:`Outcome` and :class:`TaskView`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from jditem.server.clock import iso_local
from jditem.server.store.tables import FINAL_TASK_STATUSES, Task
from jditem.server.tasks.cache import FreshResult

OutcomeKind = Literal["ready", "not_supported", "failed", "pending"]


@dataclass(frozen=True)
class Outcome:
    """What a ``resolve`` call ended with (SPEC §2.4 step 8).

    * ``ready``: ``payload`` is the collector's payload, unchanged (code 0);
    * ``not_supported``: ``error`` holds the collector's reason (code 202);
    * ``failed``: ``error`` says why the task failed (code 301);
    * ``pending``: ``status`` is the SPEC §2.3 dict (code 102).

    ``status`` is also filled for final outcomes that came from a task (handy for
    logs); it is None for cache hits. ``from_cache`` is True when a fresh cached
    result answered at once. ``body`` is a ready payload already serialized as JSON (the
    in-memory copy keeps it), else None.
    """

    kind: OutcomeKind
    payload: dict[str, Any] | None = None
    task_id: str | None = None
    status: dict[str, Any] | None = None
    error: str | None = None
    from_cache: bool = False
    body: bytes | None = None

    @classmethod
    def cached(cls, fresh: FreshResult) -> Outcome:
        """The outcome a fresh cached result answers at once."""
        if fresh.status == "ok":
            return cls(
                kind="ready",
                payload=fresh.payload,
                task_id=fresh.task_id,
                from_cache=True,
                body=fresh.payload_json,
            )
        return cls(kind="not_supported", task_id=fresh.task_id, error=fresh.reason, from_cache=True)


@dataclass(frozen=True)
class TaskView:
    """A read-only snapshot of one ``tasks`` row."""

    id: str
    item_id: str
    status: str
    attempt: int
    max_attempts: int
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    job_id: str | None

    @classmethod
    def of(cls, task: Task) -> TaskView:
        """Snapshot an ORM row (its times are aware UTC: ``UtcDateTime`` columns)."""
        return cls(
            id=task.id,
            item_id=task.item_id,
            status=task.status,
            attempt=task.attempt,
            max_attempts=task.max_attempts,
            submitted_at=task.submitted_at,
            started_at=task.started_at,
            finished_at=task.finished_at,
            error=task.error,
            job_id=task.job_id,
        )

    @property
    def is_final(self) -> bool:
        """True once the task succeeded, was not supported, or failed."""
        return self.status in FINAL_TASK_STATUSES

    def status_dict(self, *, retry_after: int, timezone: str) -> dict[str, Any]:
        """The SPEC §2.3 pending-status object (``submittedAt`` with the zone's offset)."""
        return {
            "taskId": self.id,
            "itemId": self.item_id,
            "taskStatus": self.status,
            "submittedAt": iso_local(self.submitted_at, timezone),
            "attempt": self.attempt,
            "retryAfter": retry_after,
        }
