"""What one call amounted to: its :class:`Outcome`, the :class:`Classified` answer the
core hands the flow, and the :class:`CallInfo` a caller's ``on_call`` receives."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from jditem import errors
from jditem.protocol.envelope import Envelope


class Outcome(StrEnum):
    """What one HTTP call amounted to (``CallInfo.outcome``)."""

    READY = "ready"
    PENDING = "pending"
    NOT_SUPPORTED = "not_supported"
    RATE_LIMITED = "rate_limited"
    RETRYABLE_ERROR = "retryable_error"
    ERROR = "error"
    FATAL = "fatal"
    NOT_SERVING_DATA = "not_serving_data"
    PROTOCOL_ERROR = "protocol_error"
    TRANSPORT_ERROR = "transport_error"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class CallInfo:
    """One HTTP call, reported to ``on_call`` right after it (token-free)."""

    item_id: str
    code: int | None
    http_status: int | None
    request_id: str | None
    outcome: str
    elapsed_s: float
    retry_after: float | None
    call_number: int = 1
    #: A free replay of a call already paid under the same ``Idempotency-Key``.
    replayed: bool = False
    #: The error this call amounted to, when it was not a product or a pending answer.
    error: errors.JditemError | None = None
    #: Sent, but no complete answer came back: the call may have been charged (SPEC §4).
    ambiguous: bool = False

    @property
    def charged(self) -> bool:
        """This call was charged: an answer with product data (code 0) that was not a free
        replay of a call already paid under the same ``Idempotency-Key``."""
        return self.code == 0 and self.outcome == Outcome.READY and not self.replayed

    @property
    def possibly_charged(self) -> bool:
        """This call may have cost money: it was :attr:`charged`, or it was sent and no
        complete answer came back (:attr:`ambiguous`). Count it as spent."""
        return self.charged or self.ambiguous


@dataclass(frozen=True, slots=True)
class Classified:
    """A response (or transport failure) classified by SPEC §4."""

    outcome: Outcome
    http_status: int | None = None
    request_id: str | None = None
    envelope: Envelope | None = None
    retry_after: float | None = None
    error: errors.JditemError | None = None
    elapsed_s: float = 0.0
    #: The server marked the answer ``Idempotent-Replayed: true`` (not charged again).
    replayed: bool = False

    @property
    def ambiguous(self) -> bool:
        """The request was sent but no complete answer came back (read timeout, connection
        lost after sending, truncated or invalid body): it may have been charged (SPEC §4)."""
        return isinstance(self.error, errors.AmbiguousOutcomeError)

    @property
    def code(self) -> int | None:
        """The body code, when the body was an envelope."""
        return self.envelope.code if self.envelope is not None else None

    @property
    def retryable(self) -> bool:
        """Whether another call for the same item may succeed (pending counts)."""
        if self.outcome is Outcome.PENDING:
            return True
        return self.error is not None and self.error.retryable

    @property
    def task_id(self) -> str | None:
        """The pending task's id, when the body carried one."""
        data = self.envelope.data if self.envelope is not None else None
        if isinstance(data, dict):
            value = data.get("taskId", data.get("task_id"))
            return None if value is None else str(value)
        return None
