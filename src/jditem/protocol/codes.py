"""The business codes of the v2 contract (SPEC §2.2), as one enum.

Each member carries what both sides need to know about it: the HTTP status the
server maps it to, whether a call answered with it is charged, and how a client
should treat it (:class:`RetryClass`).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class RetryClass(StrEnum):
    """What a caller should do with an answer carrying this code."""

    OK = "ok"
    """Use the data."""
    POLL = "poll"
    """The task is pending: call again after ``retryAfter`` seconds."""
    RETRY = "retry"
    """Transient: retry later, within a bounded call budget."""
    THROTTLE = "throttle"
    """Rate limited: wait ``Retry-After`` and slow down."""
    DROP = "drop"
    """Retrying will not help for this item (not supported, bad input)."""
    FATAL = "fatal"
    """Retrying will not help for any item: stop (token, quota, money, permission)."""


class Code(IntEnum):
    """Business codes; ``int(code)`` is the wire value."""

    http_status: int
    charged: bool
    retry: RetryClass
    default_message: str

    def __new__(
        cls, value: int, http_status: int, charged: bool, retry: RetryClass, message: str
    ) -> Code:
        obj = int.__new__(cls, value)
        obj._value_ = value
        obj.http_status = http_status
        obj.charged = charged
        obj.retry = retry
        obj.default_message = message
        return obj

    SUCCESS = (0, 200, True, RetryClass.OK, "success")
    PENDING = (102, 202, False, RetryClass.POLL, "task pending, call again later")
    INVALID_TOKEN = (100, 401, False, RetryClass.FATAL, "invalid or inactive token")
    NOT_SUPPORTED = (
        202,
        200,
        False,
        RetryClass.DROP,
        "item not supported or not found on JD; retrying will not help",
    )
    COLLECTION_FAILED = (301, 503, False, RetryClass.RETRY, "collection failed, please retry")
    RATE_LIMITED = (302, 429, False, RetryClass.THROTTLE, "rate limit exceeded")
    QUOTA_EXCEEDED = (303, 429, False, RetryClass.FATAL, "daily quota exceeded")
    INVALID_PARAMS = (400, 400, False, RetryClass.DROP, "invalid parameters")
    NOT_FOUND = (404, 404, False, RetryClass.DROP, "not found")
    INTERNAL_ERROR = (500, 500, False, RetryClass.RETRY, "internal server error")
    SERVICE_UNAVAILABLE = (
        503,
        503,
        False,
        RetryClass.RETRY,
        "service unavailable: a dependency is down, please retry later",
    )
    PERMISSION_DENIED = (
        600,
        403,
        False,
        RetryClass.FATAL,
        "permission denied: this token may not use this endpoint",
    )
    INSUFFICIENT_BALANCE = (601, 402, False, RetryClass.FATAL, "insufficient account balance")
    BUDGET_EXHAUSTED = (
        602,
        402,
        False,
        RetryClass.FATAL,
        "this token's cumulative budget is exhausted",
    )

    @property
    def fatal(self) -> bool:
        """True when no further call with the same token can succeed (stop a batch)."""
        return self.retry is RetryClass.FATAL

    @classmethod
    def lookup(cls, value: int) -> Code | None:
        """The member for ``value``, or ``None`` for a code outside the table."""
        member = cls._value2member_map_.get(value)
        return member if isinstance(member, cls) else None


#: Codes whose HTTP status is 429/503 when a server sends no body code.
HTTP_STATUS_FALLBACK: dict[int, Code] = {
    429: Code.RATE_LIMITED,
    503: Code.COLLECTION_FAILED,
}
