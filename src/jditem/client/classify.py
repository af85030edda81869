"""Classification by SPEC §4, without I/O: an HTTP response (or a transport failure) →
a :class:`~jditem.client.calls.Classified` outcome with its typed error.

Business codes become the errors of :mod:`jditem.errors` with what the code means and
what to do; a body that is not an envelope, or a failure after the request was sent, is
an ambiguous outcome (it may have been charged).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import ValidationError
from pydantic_core import from_json

from jditem import errors
from jditem.client.calls import Classified, Outcome
from jditem.client.config import ClientConfig
from jditem.client.keys import KeyEvidence
from jditem.protocol.codes import HTTP_STATUS_FALLBACK, Code, RetryClass
from jditem.protocol.envelope import Envelope, has_product_fields, looks_pending
from jditem.protocol.ids import KEYS_HONOURED_HEADER
from jditem.redaction import redact, sanitize_exception
from jditem.wording import say_once

_HONOURED_KEY = KEYS_HONOURED_HEADER.lower()

#: How many characters of a bad body or of unexpected data go into messages.
PREVIEW_CHARS = 200
#: Circuit states a 503 may name (``data.circuit``, SPEC §5): the gateway's upstream is
#: refusing it, and the gateway answers callers of uncollected items at once.
CIRCUIT_STATES = frozenset({"open", "probe_due"})


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


def classify_response(
    config: ClientConfig,
    evidence: KeyEvidence,
    item_id: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    elapsed_s: float = 0.0,
) -> Classified:
    """Classify an HTTP response by SPEC §4 (never raises); ``evidence`` learns whether
    the server honours ``Idempotency-Key``."""
    evidence.note(headers.get(_HONOURED_KEY))
    header_request_id = headers.get("x-request-id")
    header_retry_after = parse_retry_after(headers.get("retry-after"))
    common: dict[str, Any] = {
        "item_id": item_id,
        "http_status": status,
        "request_id": header_request_id,
    }
    envelope, problem = _parse_envelope(body)
    if envelope is None:
        fallback = HTTP_STATUS_FALLBACK.get(status)
        if fallback is not None:
            return _api_error(fallback, None, common, header_retry_after, elapsed_s, data=None)
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
    if code == Code.PENDING or code in config.pending_codes:
        return _pending(envelope, common, header_retry_after, elapsed_s)
    if code == Code.SUCCESS:
        data = envelope.data
        if looks_pending(data):
            return _pending(envelope, common, header_retry_after, elapsed_s)
        if has_product_fields(data):
            return Classified(
                Outcome.READY,
                status,
                common["request_id"],
                envelope,
                elapsed_s=elapsed_s,
                replayed=headers.get("idempotent-replayed", "").lower() == "true",
            )
        return _not_serving(config, envelope, common, elapsed_s)
    known = Code.lookup(code)
    return _api_error(known, envelope, common, header_retry_after, elapsed_s, data=envelope.data)


def classify_exception(
    config: ClientConfig, item_id: str, exc: httpx.HTTPError, *, elapsed_s: float = 0.0
) -> Classified:
    """Classify a transport failure; the raw exception is replaced by a sanitized cause."""
    where = f"{config.base_url} ({config.endpoint})"
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
            waited = f"no complete answer from {where} within {elapsed_s:.1f} s after the"
            error = errors.ReadTimeoutError(
                f"{waited} request was sent (read timeout; raise the timeout if the server "
                "is just slow); the call may have been charged",
                problem=f"{waited} request was sent (read timeout); the call may have been charged",
                phase=phase,
                item_id=item_id,
            )
        else:
            problem = (
                f"{phase} timeout talking to {where} after {elapsed_s:.1f} s, before the "
                "request was sent; the server may be slow or unreachable"
            )
            error = errors.RequestTimeoutError(
                f"{problem}: retry later or raise the timeout",
                problem=problem,
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
    config: ClientConfig, envelope: Envelope, common: dict[str, Any], elapsed_s: float
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
    alternatives = " or ".join(v for v in ("v1", "v3") if v != config.endpoint)
    problem = (
        f"the {config.endpoint} endpoint answered success (code 0) with {what} "
        f"instead of product data (message: {_preview(message)!r}, data: {preview!r}); "
        f"it is not serving data to API calls: use the synchronous {alternatives} endpoint"
    )
    error = errors.NotServingDataError(
        f"{problem} (endpoint='v1')", problem=problem, data_preview=preview, **common
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
