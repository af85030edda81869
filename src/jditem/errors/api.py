"""The errors of a business code (SPEC §2.2): :class:`APIError`, one subclass per code, and
:func:`error_for_code` (the tree is drawn in :mod:`jditem.errors`, where every one of them
is imported from).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from jditem.errors.base import JditemError
from jditem.protocol.codes import Code

__all__ = [
    "APIError",
    "BudgetExhaustedError",
    "CollectionFailedError",
    "EndpointNotFoundError",
    "FatalError",
    "InsufficientBalanceError",
    "InternalServerError",
    "InvalidParametersError",
    "InvalidTokenError",
    "ItemNotSupportedError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitError",
    "ServiceUnavailableError",
    "UnknownCodeError",
    "error_for_code",
]


class APIError(JditemError):
    """The server answered with a business code other than success or pending.

    ``retry_after``: the server's ``Retry-After`` / ``retryAfter`` in seconds, if sent.
    """

    #: The code this class stands for (``None`` for the unknown-code class).
    api_code: ClassVar[Code | None] = None

    def __init__(
        self, message: str, *, data: Any = None, retry_after: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.data = data
        self.retry_after = retry_after


class FatalError(APIError):
    """No further call with the same token can succeed: stop (100/303/600/601/602)."""


class InvalidTokenError(FatalError):
    """100: the token is unknown or disabled. Fix the token."""

    api_code = Code.INVALID_TOKEN


class QuotaExceededError(FatalError):
    """303: the token's daily quota is used up; ``reset_at`` is the next reset, if sent."""

    api_code = Code.QUOTA_EXCEEDED

    def __init__(self, message: str, *, reset_at: datetime | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reset_at = reset_at


class PermissionDeniedError(FatalError):
    """600: this token may not use this endpoint."""

    api_code = Code.PERMISSION_DENIED


class InsufficientBalanceError(FatalError):
    """601: the account's shared balance is too low. Top it up."""

    api_code = Code.INSUFFICIENT_BALANCE


class BudgetExhaustedError(FatalError):
    """602: this token's cumulative budget is spent. Raise the budget."""

    api_code = Code.BUDGET_EXHAUSTED


class ItemNotSupportedError(APIError):
    """202: the item is not supported or not found on JD; retrying will not help."""

    api_code = Code.NOT_SUPPORTED


class InvalidParametersError(APIError):
    """400: the request parameters are invalid (e.g. ``itemId`` is not 1-20 digits)."""

    api_code = Code.INVALID_PARAMS


class EndpointNotFoundError(APIError):
    """404: the server does not know this path. Check the base URL and endpoint."""

    api_code = Code.NOT_FOUND


class CollectionFailedError(APIError):
    """301: collection failed on the server side; a later retry may succeed."""

    api_code = Code.COLLECTION_FAILED
    default_retryable = True


class RateLimitError(APIError):
    """302 (or HTTP 429 without a body code): slow down; ``retry_after`` seconds if sent."""

    api_code = Code.RATE_LIMITED
    default_retryable = True


class InternalServerError(APIError):
    """500: the server failed unexpectedly; retried within the call budget."""

    api_code = Code.INTERNAL_ERROR
    default_retryable = True


class ServiceUnavailableError(APIError):
    """503: a dependency of the server is down (a relay's upstream); retry later, bounded.

    ``circuit`` is ``"open"`` or ``"probe_due"`` when a gateway's circuit to its upstream
    is open (``data.circuit``; ``upstream_code`` is the upstream's refusal code, if
    known): ``get`` retries that at most once, a batch pauses and probes with one item.
    """

    api_code = Code.SERVICE_UNAVAILABLE
    default_retryable = True

    def __init__(
        self,
        message: str,
        *,
        circuit: str | None = None,
        upstream_code: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.circuit = circuit
        self.upstream_code = upstream_code


class UnknownCodeError(APIError):
    """A business code outside SPEC §2.2; not retried."""


_BY_CODE: dict[int, type[APIError]] = {
    int(cls.api_code): cls
    for cls in (
        InvalidTokenError,
        QuotaExceededError,
        PermissionDeniedError,
        InsufficientBalanceError,
        BudgetExhaustedError,
        ItemNotSupportedError,
        InvalidParametersError,
        EndpointNotFoundError,
        CollectionFailedError,
        RateLimitError,
        InternalServerError,
        ServiceUnavailableError,
    )
    if cls.api_code is not None
}


def error_for_code(code: int) -> type[APIError]:
    """The :class:`APIError` subclass for a business ``code`` (``UnknownCodeError`` if none)."""
    return _BY_CODE.get(code, UnknownCodeError)
