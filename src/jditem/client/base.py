"""The I/O-free core shared by :class:`Client` and :class:`AsyncClient`.

It builds the request, classifies a response (or a transport failure) by SPEC §4,
and turns business codes into typed errors. The twins only move bytes; the retry
and polling decisions live in :mod:`jditem.client.retry`.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

import httpx
from pydantic import ValidationError
from pydantic_core import from_json

from jditem import errors
from jditem.client.config import ClientConfig
from jditem.protocol.codes import HTTP_STATUS_FALLBACK, Code, RetryClass
from jditem.protocol.envelope import Envelope, has_product_fields, looks_pending
from jditem.protocol.ids import KEYS_HONOURED_HEADER, idempotency_key_problem, parse_keys_honoured
from jditem.protocol.product import Product
from jditem.redaction import mask_token, redact, sanitize_exception
from jditem.wording import say_once

logger = logging.getLogger("jditem.client")

_HONOURED_KEY = KEYS_HONOURED_HEADER.lower()

#: How many characters of a bad body or of unexpected data go into messages.
PREVIEW_CHARS = 200

#: The connection pool of the twins (and of the aiohttp transport). Idle connections
#: are dropped after 5 s, well before a server closes them (jditem's keeps them 20 s):
#: a client that reuses a connection the server is closing loses the call.
POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


def loads_json(body: bytes | str) -> Any:
    """``json.loads(body)``, about twice as fast on a product-sized body.

    ``pydantic_core.from_json`` parses first; what it refuses (a byte-order mark, a lone
    surrogate escape, a UTF-16 body) goes to :func:`json.loads`, so the result and the
    errors raised (``ValueError``) are those of ``json.loads``.
    """
    try:
        return from_json(body)
    except ValueError:
        return json.loads(body)


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


_ADVICE: dict[Code, str] = {
    Code.INVALID_TOKEN: "check the token (token=..., JDITEM_TOKEN or JUSTONEAPI_TOKEN)",
    Code.NOT_SUPPORTED: "drop this item; retrying will not help",
    Code.COLLECTION_FAILED: "retry this item later",
    Code.RATE_LIMITED: "wait Retry-After seconds and slow down",
    Code.QUOTA_EXCEEDED: "stop until the daily quota resets, or ask for a higher quota",
    Code.INVALID_PARAMS: "fix the input: itemId must be 1-20 ASCII digits",
    Code.NOT_FOUND: "check the base URL and the endpoint (v1/v2/v3)",
    Code.INTERNAL_ERROR: "retry later; report the requestId if it persists",
    Code.SERVICE_UNAVAILABLE: "the server's upstream is unavailable: retry later",
    Code.PERMISSION_DENIED: "ask the administrator to allow this token on this endpoint",
    Code.INSUFFICIENT_BALANCE: "top up the account balance",
    Code.BUDGET_EXHAUSTED: "raise this token's budget or use another token",
}

_OUTCOME_BY_RETRY: dict[RetryClass, Outcome] = {
    RetryClass.RETRY: Outcome.RETRYABLE_ERROR,
    RetryClass.THROTTLE: Outcome.RATE_LIMITED,
    RetryClass.DROP: Outcome.ERROR,
    RetryClass.FATAL: Outcome.FATAL,
}


def parse_retry_after(value: Any) -> float | None:
    """Seconds from a ``Retry-After`` header / ``retryAfter`` field (number or HTTP date).

    ``inf`` stays infinite (longer than any cap: an error carrying the value); ``nan`` is
    no hint.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip()
        try:
            seconds = float(text)
        except ValueError:
            return _seconds_until(text)
    return None if math.isnan(seconds) else max(0.0, seconds)


def _seconds_until(http_date: str) -> float | None:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _preview(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = redact(text)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


#: The request header of an idempotency key (see :meth:`BaseClient.check_idempotency_key`).
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: Circuit states a 503 may name (``data.circuit``, SPEC §5): the gateway's upstream is
#: refusing it, and the gateway answers callers of uncollected items at once.
CIRCUIT_STATES = frozenset({"open", "probe_due"})


class KeyEvidence:
    """What a server said about ``Idempotency-Key``: ``ttl`` (seconds) once an answer
    carried ``Idempotency-Key-Honoured: ttl=N``, else ``None``.

    The only ground on which an ambiguous call is resent (SPEC §4): a jditem server
    announces it on every answer; the vendor never does. Once seen it is kept (a server
    that honours keys keeps honouring them), per client and base URL.
    """

    __slots__ = ("_raw", "ttl")

    def __init__(self, ttl: int | None = None) -> None:
        self.ttl = ttl
        self._raw: str | None = None

    @property
    def honoured(self) -> bool:
        """Whether the server said it honours ``Idempotency-Key``."""
        return self.ttl is not None

    def note(self, header: str | None) -> None:
        """Learn from one answer's :data:`~jditem.protocol.ids.KEYS_HONOURED_HEADER` value."""
        if header is None or header == self._raw:
            return
        ttl = parse_keys_honoured(header)
        if ttl is not None:
            self.ttl, self._raw = ttl, header


class BaseClient:
    """Request building and response classification; no I/O.

    ``evidence`` is shared by the cores of one server (the endpoint fallback's).
    """

    def __init__(self, config: ClientConfig, evidence: KeyEvidence | None = None) -> None:
        self.config = config
        self.evidence = evidence if evidence is not None else KeyEvidence()

    # -- request -----------------------------------------------------------------------

    def request_parts(
        self, item_id: str, idempotency_key: str | None = None
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        """``(url, query params, headers)`` for one call; the token goes where ``auth`` says.

        ``idempotency_key`` is sent as the ``Idempotency-Key`` header (see
        :meth:`check_idempotency_key`).
        """
        token = self.config.token.get_secret_value()
        params = {"itemId": item_id}
        headers = {"User-Agent": self.config.user_agent, "Accept": "application/json"}
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = self.check_idempotency_key(idempotency_key)
        if self.config.auth == "header":
            headers["Authorization"] = f"Bearer {token}"
        else:
            params = {"token": token, "itemId": item_id}
        return self.config.url, params, headers

    def check_idempotency_key(self, key: str) -> str:
        """``key`` if it is a valid ``Idempotency-Key``, else :class:`ConfigurationError`.

        Valid: 1-128 printable ASCII characters that do not contain the API token. The
        key makes a repeat of a paid call free on servers that honour the header
        (jditem's own server); the vendor ignores unknown headers, so against it the
        header changes nothing.
        """
        problem = idempotency_key_problem(key)
        if problem is not None:
            raise errors.ConfigurationError(problem)
        if self.config.token.get_secret_value() in key:
            raise errors.ConfigurationError(
                "the Idempotency-Key contains the API token; keys are sent and may be stored "
                "in clear, so build them from a job id and the item id instead"
            )
        return key

    def timeout(self, remaining: float | None = None) -> httpx.Timeout:
        """Per-call timeouts, never longer than ``remaining`` seconds of the deadline."""
        connect, read = self.config.connect_timeout, self.config.read_timeout
        if remaining is not None:
            connect, read = min(connect, remaining), min(read, remaining)
        return httpx.Timeout(connect=connect, read=read, write=connect, pool=connect)

    def describe(self) -> str:
        """``repr`` text: configuration with the token masked."""
        token = mask_token(self.config.token.get_secret_value())
        return (
            f"base_url={self.config.base_url!r}, endpoint={self.config.endpoint!r}, "
            f"auth={self.config.auth!r}, token={token!r}"
        )

    # -- classification ----------------------------------------------------------------

    def classify_response(
        self,
        item_id: str,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        elapsed_s: float = 0.0,
    ) -> Classified:
        """Classify an HTTP response by SPEC §4 (never raises); learns whether the server
        honours ``Idempotency-Key`` (:attr:`evidence`)."""
        self.evidence.note(headers.get(_HONOURED_KEY))
        header_request_id = headers.get("x-request-id")
        header_retry_after = parse_retry_after(headers.get("retry-after"))
        common: dict[str, Any] = {
            "item_id": item_id,
            "http_status": status,
            "request_id": header_request_id,
        }
        envelope, problem = self._parse_envelope(body)
        if envelope is None:
            fallback = HTTP_STATUS_FALLBACK.get(status)
            if fallback is not None:
                return self._api_error(
                    fallback, None, common, header_retry_after, elapsed_s, data=None
                )
            text = redact(body[:PREVIEW_CHARS].decode("utf-8", errors="replace"))
            error = errors.InvalidResponseError(
                f"the server answered HTTP {status} with {problem}, not a JSON envelope "
                f"(first bytes: {text!r}); the call may have been charged; check the base "
                "URL and endpoint, or retry later if a proxy or gateway was failing",
                body_start=text,
                **common,
            )
            return Classified(
                Outcome.PROTOCOL_ERROR,
                status,
                header_request_id,
                error=error,
                elapsed_s=elapsed_s,
            )
        common["request_id"] = envelope.request_id or header_request_id
        common["code"] = envelope.code
        code = envelope.code
        if code == Code.PENDING or code in self.config.pending_codes:
            return self._pending(envelope, common, header_retry_after, elapsed_s)
        if code == Code.SUCCESS:
            data = envelope.data
            if looks_pending(data):
                return self._pending(envelope, common, header_retry_after, elapsed_s)
            if has_product_fields(data):
                return Classified(
                    Outcome.READY,
                    status,
                    common["request_id"],
                    envelope,
                    elapsed_s=elapsed_s,
                    replayed=headers.get("idempotent-replayed", "").lower() == "true",
                )
            return self._not_serving(envelope, common, elapsed_s)
        known = Code.lookup(code)
        return self._api_error(
            known, envelope, common, header_retry_after, elapsed_s, data=envelope.data
        )

    def classify_exception(
        self, item_id: str, exc: httpx.HTTPError, *, elapsed_s: float = 0.0
    ) -> Classified:
        """Classify a transport failure; the raw exception is replaced by a sanitized cause."""
        where = f"{self.config.base_url} ({self.config.endpoint})"
        error: errors.JditemError
        outcome = Outcome.TRANSPORT_ERROR
        if isinstance(exc, httpx.TimeoutException):
            phase = {
                httpx.ConnectTimeout: "connect",
                httpx.ReadTimeout: "read",
                httpx.WriteTimeout: "write",
                httpx.PoolTimeout: "pool",
            }.get(type(exc), "read")
            outcome = Outcome.TIMEOUT
            if phase == "read":
                error = errors.ReadTimeoutError(
                    f"no complete answer from {where} within {elapsed_s:.1f} s after the "
                    "request was sent (read timeout; raise the timeout if the server is just "
                    "slow); the call may have been charged",
                    phase=phase,
                    item_id=item_id,
                )
            else:
                error = errors.RequestTimeoutError(
                    f"{phase} timeout talking to {where} after {elapsed_s:.1f} s, before the "
                    "request was sent; the server may be slow or unreachable: retry later or "
                    "raise the timeout",
                    phase=phase,
                    item_id=item_id,
                )
        elif isinstance(exc, httpx.ConnectError | httpx.WriteError):
            error = errors.ConnectError(
                f"could not connect to {where} ({type(exc).__name__}); the request was not "
                "sent: check the base URL and the network, then retry",
                item_id=item_id,
            )
        elif isinstance(exc, httpx.ReadError | httpx.RemoteProtocolError):
            error = errors.ConnectionLostError(
                f"the connection to {where} broke after the request was sent "
                f"({type(exc).__name__}); the call may have been charged",
                item_id=item_id,
            )
        elif isinstance(exc, httpx.DecodingError):
            outcome = Outcome.PROTOCOL_ERROR
            error = errors.InvalidResponseError(
                f"the response from {where} could not be decoded ({type(exc).__name__}); "
                "the call may have been charged; check the base URL or retry later",
                item_id=item_id,
            )
        else:
            error = errors.TransportError(
                f"the request to {where} failed ({type(exc).__name__}): check the base URL, "
                "proxy settings and the network",
                item_id=item_id,
            )
        error.__cause__ = sanitize_exception(exc)
        error.__suppress_context__ = True
        return Classified(outcome, error=error, elapsed_s=elapsed_s)

    def product(self, classified: Classified, item_id: str) -> Product:
        """The normalized product of a READY answer."""
        assert classified.envelope is not None
        try:
            return Product.from_payload(
                classified.envelope.data, sku_id=item_id, fetched_at=datetime.now(UTC)
            )
        except (ValueError, TypeError) as exc:
            raise errors.ProtocolError(
                f"the product payload could not be normalized ({type(exc).__name__}: "
                f"{redact(str(exc))[:PREVIEW_CHARS]}); report the requestId",
                item_id=item_id,
                code=classified.code,
                http_status=classified.http_status,
                request_id=classified.request_id,
            ) from None

    # -- helpers -----------------------------------------------------------------------

    @staticmethod
    def _parse_envelope(body: bytes) -> tuple[Envelope | None, str]:
        if not body.strip():
            return None, "an empty body"
        try:
            decoded = loads_json(body)
        except (ValueError, UnicodeDecodeError):
            return None, "a body that is not JSON (HTML, truncated or binary?)"
        if not isinstance(decoded, dict):
            return None, f"a JSON {type(decoded).__name__} instead of an object"
        if "code" not in decoded or decoded["code"] is None:
            return None, "a JSON object without a 'code'"
        try:
            return Envelope.model_validate(decoded), ""
        except ValidationError:
            return None, f"an invalid code {decoded.get('code')!r}"

    def _pending(
        self,
        envelope: Envelope,
        common: dict[str, Any],
        header_retry_after: float | None,
        elapsed_s: float,
    ) -> Classified:
        data = envelope.data if isinstance(envelope.data, dict) else {}
        retry_after = parse_retry_after(data.get("retryAfter", data.get("retry_after")))
        if retry_after is None:
            retry_after = header_retry_after
        return Classified(
            Outcome.PENDING,
            common["http_status"],
            common["request_id"],
            envelope,
            retry_after=retry_after,
            elapsed_s=elapsed_s,
        )

    def _not_serving(
        self, envelope: Envelope, common: dict[str, Any], elapsed_s: float
    ) -> Classified:
        data = envelope.data
        if data is None or data == {} or data == [] or data == "":
            what = "empty data"
        elif isinstance(data, str):
            what = "a text message"
        elif isinstance(data, dict):
            what = f"an object without product fields (keys: {', '.join(sorted(data)[:8])})"
        else:
            what = f"a JSON {type(data).__name__}"
        preview = _preview(data)
        message = envelope.message or ""
        alternatives = " or ".join(v for v in ("v1", "v3") if v != self.config.endpoint)
        error = errors.NotServingDataError(
            f"the {self.config.endpoint} endpoint answered success (code 0) with {what} "
            f"instead of product data (message: {_preview(message)!r}, data: {preview!r}); "
            f"it is not serving data to API calls: use the synchronous {alternatives} "
            "endpoint (endpoint='v1' / --endpoint v1)",
            data_preview=preview,
            **common,
        )
        return Classified(
            Outcome.NOT_SERVING_DATA,
            common["http_status"],
            common["request_id"],
            envelope,
            error=error,
            elapsed_s=elapsed_s,
        )

    def _api_error(
        self,
        code: Code | None,
        envelope: Envelope | None,
        common: dict[str, Any],
        retry_after: float | None,
        elapsed_s: float,
        *,
        data: Any,
    ) -> Classified:
        body_code = envelope.code if envelope is not None else None
        server_message = _preview(envelope.message) if envelope and envelope.message else ""
        if code is None:
            cls: type[errors.APIError] = errors.UnknownCodeError
            meaning = f"code {body_code} is not part of the contract"
            advice = "check the server's documentation; not retried"
            outcome = Outcome.ERROR
        else:
            cls = errors.error_for_code(int(code))
            meaning = code.default_message
            advice = _ADVICE.get(code, "")
            outcome = (
                Outcome.NOT_SUPPORTED
                if code is Code.NOT_SUPPORTED
                else _OUTCOME_BY_RETRY.get(code.retry, Outcome.ERROR)
            )
        if envelope is None:
            meaning = f"HTTP {common['http_status']} without a body code ({meaning})"
        extra: dict[str, Any] = {}
        if cls is errors.RateLimitError:
            if retry_after is not None:
                advice = f"wait {retry_after:g} s (Retry-After) and slow down"
        elif cls is errors.ServiceUnavailableError and isinstance(data, dict):
            circuit = data.get("circuit")
            if circuit in CIRCUIT_STATES:
                upstream = data.get("upstreamCode")
                upstream_code = upstream if type(upstream) is int else None
                if retry_after is None:
                    retry_after = parse_retry_after(data.get("retryAfter"))
                extra.update(circuit=circuit, upstream_code=upstream_code)
                refused = f" (upstream code {upstream_code})" if upstream_code is not None else ""
                meaning = (
                    f"the server's circuit to its upstream is {circuit.replace('_', ' ')}: "
                    f"the upstream refuses it{refused}"
                )
                advice = (
                    f"try again in {retry_after:g} s (Retry-After) or later"
                    if retry_after is not None
                    else "try again later"
                ) + "; if it persists, ask the gateway's operator about the upstream"
        elif cls is errors.QuotaExceededError:
            reset_at = _parse_datetime(data.get("resetAt")) if isinstance(data, dict) else None
            extra["reset_at"] = reset_at
            if reset_at is not None:
                advice = f"stop until the quota resets at {reset_at.isoformat()}"
        text = meaning + (f" (server said: {server_message!r})" if server_message else "")
        text = say_once(f"{text}; {advice}" if advice else text, meaning, advice)
        error = cls(text, data=data, retry_after=retry_after, **{**common, **extra})
        retry_hint = retry_after if error.retryable else None
        return Classified(
            outcome,
            common["http_status"],
            common["request_id"],
            envelope,
            retry_after=retry_hint,
            error=error,
            elapsed_s=elapsed_s,
        )
