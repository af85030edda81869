"""What admission answers (:class:`Answer`), and the words of each answer it builds.

Every message says what was wrong and what to do (SPEC §2.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jditem.protocol.codes import Code
from jditem.server.accounts import quota
from jditem.server.tasks.outcome import Outcome
from jditem.server.upstream.circuit import Refusal
from jditem.wording import plural

#: Response header of a free replay of a call already paid under its Idempotency-Key.
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class Answer:
    """What the endpoint answers: a code, its data, extra headers, and the amount charged."""

    code: Code
    message: str
    data: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    charged: int = 0
    task_id: str | None = None
    #: ``data`` already serialized as JSON (a cached payload), else None.
    body: bytes | None = None
    #: True for a code-0 answer served free under an already paid Idempotency-Key.
    replayed: bool = False
    #: What refused the call when its code has several causes: ``"list_budget"`` for a
    #: 602 of a watch list's daily budget (not the token's), else None.
    cause: str | None = None


def reject(code: Code, message: str | None = None, **kwargs: Any) -> Answer:
    """An answer without a result (``message`` defaults to the code's own)."""
    return Answer(code=code, message=message or code.default_message, **kwargs)


def unknown_token(problem: str | None) -> Answer:
    """100: no token, or one nobody issued (``problem`` says what was wrong, if known)."""
    return reject(
        Code.INVALID_TOKEN,
        problem
        or "invalid token: send a valid token as 'Authorization: Bearer <token>' or ?token=<token>",
    )


def disabled_token(prefix: str) -> Answer:
    """100: the token exists but is disabled."""
    return reject(
        Code.INVALID_TOKEN,
        f"token {prefix}... is disabled; ask the administrator to enable it or use another token",
    )


def permission_denied(prefix: str, endpoint: str) -> Answer:
    """600: the token may not call ``endpoint``."""
    return reject(
        Code.PERMISSION_DENIED,
        f"permission denied: token {prefix}... may not use {endpoint}; "
        "ask the administrator to grant it",
    )


def invalid_params(problem: str | None) -> Answer:
    """400: ``problem`` with the parameters."""
    return reject(Code.INVALID_PARAMS, f"invalid parameters: {problem}")


def rate_limited(rate: float, wait: float) -> Answer:
    """302: the token's rate limit; ``wait`` seconds until a slot frees."""
    retry_after = max(1, math.ceil(wait))
    return reject(
        Code.RATE_LIMITED,
        f"rate limit exceeded ({rate:g} requests/second); wait {retry_after} s and slow down",
        data={"retryAfter": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def quota_exceeded(daily_quota: int, now: datetime, timezone: str) -> Answer:
    """303: the token's daily quota, with the next local midnight."""
    reset = quota.next_reset(now, timezone)
    return reject(
        Code.QUOTA_EXCEEDED,
        f"daily quota of {plural(daily_quota, 'call')} exceeded; it resets at {reset.isoformat()}",
        data={"resetAt": reset.isoformat(timespec="milliseconds")},
    )


def budget_exhausted() -> Answer:
    """602: the token's cumulative budget."""
    return reject(
        Code.BUDGET_EXHAUSTED,
        "this token's cumulative budget is exhausted; raise its budget or use another token",
    )


def list_budget_exhausted() -> Answer:
    """602 for a watch list's check: the list's daily budget (not the token's) is spent."""
    return reject(
        Code.BUDGET_EXHAUSTED,
        "this watch list's daily budget is spent; it resumes tomorrow, or raise its budget",
        cause="list_budget",
    )


def insufficient_balance() -> Answer:
    """601: the account's balance."""
    return reject(
        Code.INSUFFICIENT_BALANCE, "insufficient account balance; top up the account to continue"
    )


def key_conflict(used_for: str | None) -> Answer:
    """400: the Idempotency-Key was used for another item (``used_for``, when known)."""
    where = f"item {used_for}" if used_for is not None else "another item"
    return invalid_params(
        f"this Idempotency-Key was already used for {where} by this token; use a new key per item"
    )


def not_supported(item_id: str, reason: str | None, task_id: str | None) -> Answer:
    """202: the collector says the item does not exist or cannot be served."""
    return Answer(
        code=Code.NOT_SUPPORTED,
        message=f"item {item_id} not supported or not found on JD "
        f"({reason or 'not supported'}); retrying will not help",
        task_id=task_id,
    )


def unavailable(refusal: Refusal, task_id: str | None = None) -> Answer:
    """503 for an open upstream circuit: ``data`` is the wire shape of :class:`Refusal`."""
    return Answer(
        code=Code.SERVICE_UNAVAILABLE,
        message=refusal.message,
        data=refusal.data(),
        headers={"Retry-After": str(refusal.retry_after)},
        task_id=task_id,
    )


def pending(outcome: Outcome, default_retry_after: int) -> Answer:
    """102: the task is not done yet; ``data`` is its SPEC §2.3 status."""
    status = dict(outcome.status or {})
    retry_after = int(status.get("retryAfter") or default_retry_after)
    return Answer(
        code=Code.PENDING,
        message=f"task pending; call again with the same itemId in {retry_after} s",
        data=status,
        headers={"Retry-After": str(retry_after)},
        task_id=outcome.task_id,
    )


def collection_failed(outcome: Outcome) -> Answer:
    """301: the task failed (retried already; a new call starts a new one)."""
    reason = outcome.error or "collection failed"
    return Answer(
        code=Code.COLLECTION_FAILED,
        message=f"collection failed ({reason}); please retry later",
        task_id=outcome.task_id,
    )


def success(result: Outcome, charged: int) -> Answer:
    """0: the product, ``charged`` units taken for it."""
    return Answer(
        code=Code.SUCCESS,
        message="success",
        data=result.payload,
        charged=charged,
        task_id=result.task_id,
        body=result.body,
    )


def replayed(result: Outcome) -> Answer:
    """0, free: the product of a call already paid under its Idempotency-Key."""
    return Answer(
        code=Code.SUCCESS,
        message="success",
        data=result.payload,
        headers={REPLAYED_HEADER: "true"},
        task_id=result.task_id,
        body=result.body,
        replayed=True,
    )


def internal_error(request_id: str) -> Answer:
    """500: an unexpected error (logged with the request id)."""
    return reject(
        Code.INTERNAL_ERROR,
        f"internal server error; retry later, and quote requestId {request_id} if it persists",
    )
