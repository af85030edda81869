"""Retry and polling decisions for one item (SPEC §4), without I/O.

:class:`Attempts` counts calls against ``max_calls_per_item`` and the per-item
deadline, and after each classified call says how long to wait before the next one —
or raises the final error. Both client twins drive it the same way::

    attempts = Attempts(config, item_id, deadline)
    while True:
        classified = call(timeout=attempts.call_timeout())
        info = attempts.record(classified)
        if classified.outcome is Outcome.READY: ...
        sleep(attempts.next_wait(classified))

Waits: the server's ``retryAfter`` / ``Retry-After`` when given (up to
``max_retry_after``; a longer hint raises with the value), else full-jitter
exponential backoff. Only what cannot cost twice for nothing is repeated: pending, 301,
302, 500, HTTP 429/503, connection failures and timeouts before the request was sent. A
503 naming an open upstream circuit is repeated at most once. An *ambiguous* outcome
(sent, no complete answer: read timeout, connection lost, truncated or invalid body) is
repeated only when ``resend_refusal()`` returns ``None`` — the flow's judgement that the
call carries an ``Idempotency-Key`` the server honours — else raised with the reason.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from jditem import errors
from jditem.client.calls import CallInfo, Classified, Outcome
from jditem.client.circuit import circuit_error
from jditem.client.config import ClientConfig

CONTINUATION_VERSION = 1


class Refusal(NamedTuple):
    """Why an ambiguous outcome may not be resent, and the library's advice after it."""

    why: str
    advice: str


def full_jitter(failures: int, *, base: float, cap: float, rng: Callable[[], float]) -> float:
    """AWS-style full jitter: uniform in ``[0, min(cap, base * 2**failures)]``."""
    return float(rng()) * min(cap, base * float(2 ** min(failures, 30)))


def parse_continuation(continuation: str | errors.PendingTimeoutError) -> dict[str, Any]:
    """The fields of a continuation token; raises :class:`ConfigurationError` if malformed."""
    if isinstance(continuation, errors.PendingTimeoutError):
        continuation = continuation.continuation
    try:
        data = json.loads(continuation)
    except (TypeError, ValueError):
        data = None
    if (
        not isinstance(data, dict)
        or data.get("v") != CONTINUATION_VERSION
        or not isinstance(data.get("itemId"), str)
    ):
        raise errors.ConfigurationError(
            "not a jditem continuation token: pass PendingTimeoutError.continuation "
            "(a JSON string) unchanged"
        )
    return data


class Attempts:
    """Call budget, deadline and wait decisions for one ``get`` of one item."""

    def __init__(
        self,
        config: ClientConfig,
        item_id: str,
        deadline: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        resend_refusal: Callable[[], Refusal | None] | None = None,
    ) -> None:
        self.config = config
        self._resend_refusal = resend_refusal
        self.item_id = item_id
        self.deadline = config.deadline if deadline is None else deadline
        if not self.deadline > 0:
            raise errors.ConfigurationError(
                f"deadline must be > 0 seconds, got {deadline!r}: use e.g. 900"
            )
        self._clock = clock
        self._rng = rng
        self.started = clock()
        self.calls = 0
        self.failures = 0
        self.circuit_answers = 0
        self.task_id: str | None = None
        self.last_request_id: str | None = None

    @property
    def elapsed(self) -> float:
        """Seconds since the first call was planned."""
        return self._clock() - self.started

    @property
    def remaining(self) -> float:
        """Seconds left before the deadline."""
        return self.deadline - self.elapsed

    def call_timeout(self) -> float:
        """Seconds the next call may take at most; raises when the deadline has passed."""
        remaining = self.remaining
        if remaining <= 0:
            problem = (
                f"the deadline of {self.deadline:g} s for this item passed after "
                f"{self.calls} call(s)"
            )
            raise errors.RequestTimeoutError(
                f"{problem}: raise deadline= or retry later",
                problem=problem,
                phase="deadline",
                item_id=self.item_id,
            )
        return remaining

    def record(self, classified: Classified) -> CallInfo:
        """Count one finished call; returns the :class:`CallInfo` for ``on_call``."""
        self.calls += 1
        if classified.task_id:
            self.task_id = classified.task_id
        if classified.request_id:
            self.last_request_id = classified.request_id
        return CallInfo(
            item_id=self.item_id,
            code=classified.code,
            http_status=classified.http_status,
            request_id=classified.request_id,
            outcome=classified.outcome.value,
            elapsed_s=classified.elapsed_s,
            retry_after=classified.retry_after,
            call_number=self.calls,
            replayed=classified.replayed,
            error=classified.error,
            ambiguous=classified.ambiguous,
        )

    def next_wait(self, classified: Classified) -> float:
        """Seconds to wait before calling again; raises the final error when giving up."""
        if classified.outcome is Outcome.READY:
            raise AssertionError("a ready answer needs no further call")
        if classified.ambiguous:
            self._check_resend(classified)
        elif not classified.retryable:
            assert classified.error is not None
            raise classified.error
        hint = classified.retry_after
        if hint is not None and hint > self.config.max_retry_after:
            raise self._give_up(
                classified,
                f"the server asked to wait {hint:g} s, more than max_retry_after="
                f"{self.config.max_retry_after:g} s",
            )
        if circuit_error(classified.error) is not None:
            self.circuit_answers += 1
            if self.circuit_answers > 1:
                raise self._give_up(
                    classified, "the upstream circuit was still open after one retry"
                )
        if hint is None:
            wait = full_jitter(
                self.failures,
                base=self.config.backoff_base,
                cap=self.config.backoff_max,
                rng=self._rng,
            )
        else:
            wait = hint
        if classified.outcome is not Outcome.PENDING or hint is None:
            self.failures += 1
        if self.calls >= self.config.max_calls_per_item:
            raise self._give_up(
                classified, f"max_calls_per_item={self.config.max_calls_per_item} calls made"
            )
        if wait >= self.remaining:
            raise self._give_up(
                classified,
                f"waiting {wait:.1f} s more would pass the deadline of {self.deadline:g} s",
            )
        return wait

    def _check_resend(self, classified: Classified) -> None:
        """Raise the ambiguous outcome's error unless it may be resent (module docstring)."""
        error = classified.error
        assert isinstance(error, errors.AmbiguousOutcomeError)
        refusal = (
            self._resend_refusal()
            if self._resend_refusal is not None
            else Refusal("it carried no Idempotency-Key", "")
        )
        if refusal is not None:
            error.not_resent = refusal.why
            error.extend(f"; not resent: {refusal.why}", advice=refusal.advice)
            raise error

    def continuation(self, retry_after: float | None) -> str:
        """A JSON continuation token for :meth:`Client.resume` (no secret in it)."""
        return json.dumps(
            {
                "v": CONTINUATION_VERSION,
                "itemId": self.item_id,
                "taskId": self.task_id,
                "baseUrl": self.config.base_url,
                "endpoint": self.config.endpoint,
                "calls": self.calls,
                "elapsedS": round(self.elapsed, 3),
                "retryAfter": retry_after,
                "requestId": self.last_request_id,
                "createdAt": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            separators=(",", ":"),
        )

    def _give_up(self, classified: Classified, reason: str) -> errors.JditemError:
        summary = f"gave up after {self.calls} call(s) in {self.elapsed:.1f} s: {reason}"
        if classified.outcome is Outcome.PENDING:
            problem = f"item {self.item_id} is still pending ({summary})"
            return errors.PendingTimeoutError(
                f"{problem}; call resume() with the continuation later (the server keeps "
                "working on the task)",
                problem=problem,
                continuation=self.continuation(classified.retry_after),
                retry_after=classified.retry_after,
                task_id=self.task_id,
                item_id=self.item_id,
                code=classified.code,
                http_status=classified.http_status,
                request_id=classified.request_id,
            )
        error = classified.error
        assert error is not None
        error.extend(f" ({summary})")
        return error
