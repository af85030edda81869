"""The Collector seam: how the task worker gets a product payload for an item id.

A collector answers with a :class:`CollectResult` — ``ok`` with the payload (passed
through to callers unchanged) or ``not_supported`` with a reason (code 202; retrying
will not help) — or raises :class:`CollectError` for a failure, which the worker retries
after a backoff until the task's ``max_attempts`` are used up (then code 301), unless
the error is ``final``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol


class CollectError(Exception):
    """A collection failure; the task is retried after a backoff (then fails with 301).

    ``final=True`` fails the task at once: retrying cannot help (e.g. an upstream
    task that stayed pending past its deadline).
    """

    def __init__(self, message: str, *, final: bool = False) -> None:
        super().__init__(message)
        self.final = final


class SourceUnavailable(CollectError):
    """The collector's source refuses to serve us (a relay's upstream circuit is open).

    The task fails at once; the API answers its callers 503 while the source is down.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, final=True)


@dataclass(frozen=True)
class CollectResult:
    """The answer of one collection: a payload, or "not supported" with a reason."""

    kind: Literal["ok", "not_supported"]
    payload: dict[str, Any] | None = None
    reason: str | None = None

    @classmethod
    def ok(cls, payload: dict[str, Any]) -> CollectResult:
        """A successful collection carrying the product payload."""
        return cls(kind="ok", payload=payload)

    @classmethod
    def not_supported(cls, reason: str) -> CollectResult:
        """The item is not supported or does not exist; retrying will not help."""
        return cls(kind="not_supported", reason=reason)


class Collector(Protocol):
    """Anything that can collect one item's payload."""

    async def collect(self, item_id: str) -> CollectResult:
        """Collect ``item_id``; raise :class:`CollectError` on a transient failure."""
        ...
