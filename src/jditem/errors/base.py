"""The root :class:`JditemError` and the errors that carry no business code: the client's
configuration, the transport, an answer that is not an envelope, code 0 without data, a
wait that ran out, and a received webhook that is not authentic (the tree is drawn in
:mod:`jditem.errors`, where every one of them is imported from).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

__all__ = [
    "AmbiguousOutcomeError",
    "ConfigurationError",
    "ConnectError",
    "ConnectionLostError",
    "InvalidResponseError",
    "JditemError",
    "NotServingDataError",
    "PendingTimeoutError",
    "ProtocolError",
    "ReadTimeoutError",
    "RequestTimeoutError",
    "TransportError",
    "WebhookVerificationError",
]


class JditemError(Exception):
    """Root of every error raised by jditem.

    Attributes:
        message: what was wrong and what to do (token-free).
        problem: what was wrong, without the advice that names library arguments or
            methods (``token=...``, ``resume()``); the message when it names none.
        code: the business code of the answer, when there was one.
        http_status: the HTTP status, when a response arrived.
        request_id: the server's ``requestId`` / ``X-Request-Id``, when known.
        item_id: the item the call was for, when known.
        retryable: whether a later call for the same item may succeed.
    """

    #: Default for ``retryable`` on this class.
    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
        item_id: str | None = None,
        retryable: bool | None = None,
        problem: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.problem = message if problem is None else problem
        self.code = code
        self.http_status = http_status
        self.request_id = request_id
        self.item_id = item_id
        self.retryable = self.default_retryable if retryable is None else retryable

    @property
    def possibly_charged(self) -> bool:
        """Whether the call this error ended may have been charged: it was sent and no
        complete answer came back (an :class:`AmbiguousOutcomeError`, SPEC §4). Every
        other error is a complete answer that charges nothing, or a call never sent."""
        return isinstance(self, AmbiguousOutcomeError)

    def extend(self, note: str, *, advice: str = "") -> None:
        """Append ``note`` to the message and the problem, then ``advice`` (library
        words) to the message only."""
        self.problem += note
        self.message += note + advice
        self.args = (self.message,)

    def details(self) -> str:
        """`` [item=…, code=…, http=…, requestId=…]`` (the known ones), or ``""``."""
        details = [
            f"{name}={value}"
            for name, value in (
                ("item", self.item_id),
                ("code", self.code),
                ("http", self.http_status),
                ("requestId", self.request_id),
            )
            if value is not None
        ]
        return f" [{', '.join(details)}]" if details else ""

    def __str__(self) -> str:
        return self.message + self.details()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, code={self.code!r}, "
            f"http_status={self.http_status!r}, request_id={self.request_id!r}, "
            f"item_id={self.item_id!r}, retryable={self.retryable!r})"
        )


class ConfigurationError(JditemError, ValueError):
    """The client was configured wrongly (missing token, insecure URL, bad timeout).

    ``option``: the client option that resolves it, when one does (``token``,
    ``allow_insecure_http``, ``transport``): a front end names its own way to set it.
    """

    def __init__(self, message: str, *, option: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.option = option


class AmbiguousOutcomeError(JditemError):
    """The request was sent but no complete answer came back: it may have been charged.

    Read timeouts, connections lost after sending, and truncated or invalid bodies.
    Resent automatically only under an ``Idempotency-Key`` that the server says it
    honours (a jditem server replays a charged key free); never to a server that gave no
    such evidence, such as the vendor, which ignores the key. When not resent, the error
    says so and what to do, and ``not_resent`` says why. Each such error is also its
    specific kind (:class:`ReadTimeoutError`, :class:`ConnectionLostError`,
    :class:`InvalidResponseError`).
    """

    #: Why ``get`` did not resend the call, when it did not.
    not_resent: str | None = None


class TransportError(JditemError):
    """No usable HTTP response arrived (connection refused, reset, timeout)."""


class ConnectError(TransportError):
    """The connection failed before the request was sent; retrying cannot cost twice."""

    default_retryable = True


class ConnectionLostError(TransportError, AmbiguousOutcomeError):
    """The connection broke after the request was sent: the call may have been charged.

    Resent only under an ``Idempotency-Key`` the server honours (see
    :class:`AmbiguousOutcomeError`).
    """


class RequestTimeoutError(TransportError):
    """A timeout (``phase`` is ``connect``, ``read``, ``write``, ``pool`` or ``deadline``).

    ``read`` is a :class:`ReadTimeoutError`; the others happen before the request was
    sent (or, ``deadline``, before the next call) and cost nothing.
    """

    default_retryable = True

    def __init__(self, message: str, *, phase: str = "read", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.phase = phase


class ReadTimeoutError(RequestTimeoutError, AmbiguousOutcomeError):
    """No complete answer within ``read_timeout`` after the request was sent: the call may
    have been charged (see :class:`AmbiguousOutcomeError`)."""

    default_retryable = False


class ProtocolError(JditemError):
    """The response body is not a valid envelope (non-JSON, not an object, no code)."""

    def __init__(self, message: str, *, body_start: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.body_start = body_start


class InvalidResponseError(ProtocolError, AmbiguousOutcomeError):
    """An answer to a sent request that is not the contract — truncated, not JSON, not an
    envelope (HTML from a gateway, a bad 200): the call may have been charged (see
    :class:`AmbiguousOutcomeError`)."""


class NotServingDataError(JditemError):
    """Code 0 but no product data: text, an instruction message, or empty ``data``.

    The vendor answers direct v2 calls like this in later versions; the synchronous
    ``v1``/``v3`` endpoints still return product data. Never retried or polled.
    """

    def __init__(self, message: str, *, data_preview: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.data_preview = data_preview


class PendingTimeoutError(JditemError):
    """The item was still pending when the deadline or the call budget ran out.

    ``continuation`` is a JSON string (no secret in it) that ``Client.resume`` accepts to
    continue waiting for the same task later. ``retry_after`` is the server's last hint.
    """

    default_retryable = True

    def __init__(
        self,
        message: str,
        *,
        continuation: str,
        retry_after: float | None = None,
        task_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.continuation = continuation
        self.retry_after = retry_after
        self.task_id = task_id

    @property
    def continuation_data(self) -> dict[str, Any]:
        """The continuation token, parsed."""
        parsed: dict[str, Any] = json.loads(self.continuation)
        return parsed


class WebhookVerificationError(JditemError):
    """A received webhook failed :func:`jditem.webhooks.verify`: answer it with HTTP 400.

    ``reason`` says which check failed: ``missing_header``, ``bad_timestamp``,
    ``timestamp_too_old``, ``timestamp_too_new``, ``no_signature`` (no ``v1`` signature
    in the header), ``no_matching_signature`` or ``bad_payload`` (signed, but not a
    JSON object). The message never contains the secret.
    """

    def __init__(self, message: str, *, reason: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reason = reason
