"""One rooted exception tree for everything the client can raise.

::

    JditemError                         root: catch this to catch everything
    ├── ConfigurationError              bad client configuration (token, URL, timeouts)
    ├── AmbiguousOutcomeError           sent, no complete answer: may have been charged
    │                                   (resent only under an Idempotency-Key the server
    │                                   honours; the three below are also one of these)
    ├── TransportError                  no usable HTTP response
    │   ├── ConnectError                connection failed before the request was sent (retried)
    │   ├── ConnectionLostError         connection lost after the request was sent (ambiguous)
    │   └── RequestTimeoutError         connect/write/pool timeout: not sent (retried)
    │       └── ReadTimeoutError        no complete answer in time (ambiguous)
    ├── ProtocolError                   the body is not a valid envelope (non-JSON, no code)
    │   └── InvalidResponseError        ... of an answer to a sent request (ambiguous)
    ├── NotServingDataError             code 0 without product data (text, instruction, empty)
    ├── PendingTimeoutError             still pending when the deadline or call budget ran out
    ├── WebhookVerificationError        a received webhook is not authentic (``reason``)
    └── APIError                        a business code of SPEC §2.2 (or an unknown one)
        ├── FatalError                  no call with this token can succeed: stop a batch
        │   ├── InvalidTokenError           100
        │   ├── QuotaExceededError          303  (``reset_at``)
        │   ├── PermissionDeniedError       600
        │   ├── InsufficientBalanceError    601
        │   └── BudgetExhaustedError        602
        ├── ItemNotSupportedError       202  (drop the item; retrying will not help)
        ├── InvalidParametersError      400
        ├── EndpointNotFoundError       404  (unknown path: check base URL / endpoint)
        ├── CollectionFailedError       301  (retried within the call budget)
        ├── RateLimitError              302 / HTTP 429
        ├── InternalServerError         500  (retried within the call budget)
        ├── ServiceUnavailableError     503  (a dependency is down; retried, bounded;
        │                                    ``circuit``: the upstream's circuit is open)
        └── UnknownCodeError            any code outside the table (not retried)

Every error carries ``code``, ``http_status``, ``request_id``, ``item_id``,
``retryable`` (whether a later call for the same item may succeed) and ``problem`` (the
message without the advice that names Python arguments or methods, for a front end such
as the CLI to add its own); every
:class:`APIError` also ``retry_after`` (the server's hint, in seconds, when it sent one — a
hint longer than ``max_retry_after`` is raised with its value instead of waited out).
Messages say what was wrong and what to do; they never contain the API token.

Import them from here: :mod:`jditem.errors.base` holds the root and the errors without a
business code, :mod:`jditem.errors.api` those of a business code.
"""

from __future__ import annotations

from jditem.errors.api import (
    APIError,
    BudgetExhaustedError,
    CollectionFailedError,
    EndpointNotFoundError,
    FatalError,
    InsufficientBalanceError,
    InternalServerError,
    InvalidParametersError,
    InvalidTokenError,
    ItemNotSupportedError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    ServiceUnavailableError,
    UnknownCodeError,
    error_for_code,
)
from jditem.errors.base import (
    AmbiguousOutcomeError,
    ConfigurationError,
    ConnectError,
    ConnectionLostError,
    InvalidResponseError,
    JditemError,
    NotServingDataError,
    PendingTimeoutError,
    ProtocolError,
    ReadTimeoutError,
    RequestTimeoutError,
    TransportError,
    WebhookVerificationError,
)

__all__ = [
    "APIError",
    "AmbiguousOutcomeError",
    "BudgetExhaustedError",
    "CollectionFailedError",
    "ConfigurationError",
    "ConnectError",
    "ConnectionLostError",
    "EndpointNotFoundError",
    "FatalError",
    "InsufficientBalanceError",
    "InternalServerError",
    "InvalidParametersError",
    "InvalidResponseError",
    "InvalidTokenError",
    "ItemNotSupportedError",
    "JditemError",
    "NotServingDataError",
    "PendingTimeoutError",
    "PermissionDeniedError",
    "ProtocolError",
    "QuotaExceededError",
    "RateLimitError",
    "ReadTimeoutError",
    "RequestTimeoutError",
    "ServiceUnavailableError",
    "TransportError",
    "UnknownCodeError",
    "WebhookVerificationError",
    "error_for_code",
]


# Each public name reads as ``jditem.errors.<name>`` (tracebacks, reprs of the classes,
# pickles), wherever in the package it is defined.
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
