"""Tool results: what a model reads back, in words and as JSON.

Every result is one :class:`CallToolResult` with a one-line summary and the same facts
as JSON (``structured_content`` and a text block). Errors are ``isError`` results with
the typed error's message and what to do about it — never a traceback. Everything that
leaves here passes :func:`~jditem.redaction.redact` (the token is registered by
the client), so a token can reach no result even if an upstream echoed it.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from mcp.types import CallToolResult, TextContent

from jditem import errors
from jditem.client.retry import parse_continuation
from jditem.mcp.budget import SpendBudget, format_yuan
from jditem.mcp.session import ItemOutcome
from jditem.redaction import redact


def tool_result(summary: str, body: dict[str, Any], *, is_error: bool = False) -> CallToolResult:
    """A result with ``summary`` and ``body`` (as JSON), both redacted."""
    text = redact(json.dumps(body, ensure_ascii=False, separators=(",", ":")))
    try:
        structured: Any = json.loads(text)
    except ValueError:  # a mask landed on JSON syntax: keep the text alone
        structured = None
    return CallToolResult(
        content=[
            TextContent(type="text", text=redact(summary)),
            TextContent(type="text", text=text),
        ],
        structured_content=structured,
        is_error=is_error,
    )


def refusal(message: str, budget: SpendBudget) -> CallToolResult:
    """A call refused by the session's spending limit (nothing was sent)."""
    return tool_result(
        message,
        {"status": "refused", "message": message, "budget": budget.summary()},
        is_error=True,
    )


# -- errors ------------------------------------------------------------------------------

_STOP = (
    "Stop fetching: no product can be fetched until the user fixes this (it concerns the "
    "token or account jditem mcp runs with, not your request). Tell the user."
)


def advice(error: errors.JditemError) -> str:
    """What a model should do after ``error``."""
    if isinstance(error, errors.FatalError | errors.NotServingDataError):
        return _STOP
    if isinstance(error, errors.EndpointNotFoundError | errors.ProtocolError):
        return (
            "jditem mcp may be pointed at the wrong server (or a proxy answers instead); "
            "tell the user. price_history, changes and the watch tools need a jditem "
            "server (the vendor has neither history nor watch lists)."
        )
    if isinstance(error, errors.ItemNotSupportedError):
        return "Do not ask for this item again: JD does not have it."
    if isinstance(error, errors.ConfigurationError | errors.InvalidParametersError):
        return "Fix the argument and call again."
    if isinstance(error, errors.ConnectionLostError) or (
        isinstance(error, errors.RequestTimeoutError) and error.phase in ("read", "write")
    ):
        return (
            "The call may have been charged (counted as spent in this session). Asking "
            "again for the same item is free on a jditem server if it was charged; on "
            "the vendor it may be charged again."
        )
    if error.retryable:
        return "Try again in a while."
    return "Tell the user if it matters for the task."


def error_body(error: errors.JditemError) -> dict[str, Any]:
    """The error's fields as JSON (type, message, code, ids, what to do)."""
    return {
        "type": type(error).__name__,
        "message": error.message,
        "code": error.code,
        "http_status": error.http_status,
        "item_id": error.item_id,
        "request_id": error.request_id,
        "retryable": error.retryable,
        "what_to_do": advice(error),
    }


def error_text(error: errors.JditemError) -> str:
    """``Type: message [details] What to do.`` — one paragraph for the model."""
    return f"{type(error).__name__}: {error} {advice(error)}"


def failure(error: errors.JditemError, budget: SpendBudget) -> CallToolResult:
    """A tool error for a failure before or outside any item (bad argument, ...)."""
    return tool_result(
        error_text(error),
        {"status": "error", "error": error_body(error), "budget": budget.summary()},
        is_error=True,
    )


# -- items -------------------------------------------------------------------------------

#: Marks an encoded continuation (version 1 of this encoding).
_CONTINUATION_PREFIX = "jdc1."


def encode_continuation(continuation: str) -> str:
    """The client's continuation (JSON) as one opaque word a model copies unchanged.

    JSON inside a string argument tempts agents (and the SDK's argument pre-parsing)
    to turn it into an object; base64url text is passed on as it is.
    """
    encoded = base64.urlsafe_b64encode(continuation.encode()).decode().rstrip("=")
    return _CONTINUATION_PREFIX + encoded


def decode_continuation(text: str) -> str:
    """The client's continuation from :func:`encode_continuation`'s form (or raw JSON);
    :class:`~jditem.errors.ConfigurationError` when it is neither."""
    text = text.strip()
    decoded = text
    if text.startswith(_CONTINUATION_PREFIX):
        body = text[len(_CONTINUATION_PREFIX) :]
        try:
            decoded = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        except (binascii.Error, ValueError):
            decoded = ""
    try:
        parse_continuation(decoded)
    except errors.ConfigurationError:
        raise errors.ConfigurationError(
            "continuation is not one this server gave: pass the continuation of a "
            "'pending' result unchanged (it starts with jdc1.)"
        ) from None
    return decoded


def cost_body(outcome: ItemOutcome, price_units: int) -> dict[str, Any]:
    """What fetching the item cost in this tool call."""
    tally = outcome.tally
    body: dict[str, Any] = {
        "charged": bool(tally.charged),
        "yuan": format_yuan((tally.charged + tally.uncertain) * price_units),
        "calls": tally.calls,
    }
    if tally.uncertain:
        body["possibly_charged"] = True
    if tally.replayed:
        body["replayed"] = True  # the charged answer of an earlier call, resent free
    if tally.request_id:
        body["request_id"] = tally.request_id
    return body


def pending_message(outcome: ItemOutcome) -> str:
    """Still collecting: when and how to ask again."""
    error = outcome.error
    assert isinstance(error, errors.PendingTimeoutError)
    when = f"in about {error.retry_after:g} s" if error.retry_after else "in a few seconds"
    return (
        f"Item {outcome.item_id} is still being collected by the server (nothing was "
        f"charged for it yet). Ask again {when}: call get_product with "
        f"continuation={encode_continuation(error.continuation)} (or get_products with "
        "the same items)."
    )


def item_body(
    outcome: ItemOutcome, price_units: int, *, stopped_by: str | None = None
) -> dict[str, Any]:
    """One item's outcome as JSON: the product, the error, or how to ask again."""
    body: dict[str, Any] = {"item_id": outcome.item_id, "status": outcome.status}
    if outcome.status == "ok":
        body["source"] = outcome.source
        if outcome.fetched_at is not None:
            body["fetched_at"] = outcome.fetched_at.isoformat()
        body["product"] = outcome.product
    elif outcome.status == "pending":
        error = outcome.error
        assert isinstance(error, errors.PendingTimeoutError)
        body["message"] = pending_message(outcome)
        body["continuation"] = encode_continuation(error.continuation)
        body["retry_after_s"] = error.retry_after
    elif outcome.status == "error":
        assert outcome.error is not None
        body["error"] = error_body(outcome.error)
    else:
        why = stopped_by or "the tool deadline passed before its turn"
        body["message"] = f"Not fetched: {why}. Nothing was charged for it; ask for it again."
    body["cost"] = cost_body(outcome, price_units)
    return body
