"""Receiving jditem's change alerts: check that a webhook is authentic before using it.

A jditem server delivers change events as `Standard Webhooks
<https://www.standardwebhooks.com>`_: a POST with a JSON body signed with the endpoint's
secret (``whsec_…``, shown once when the endpoint is added or rotated) and three headers:

* ``webhook-id`` — the message id, the same on every retry of it (deduplicate on it);
* ``webhook-timestamp`` — when this attempt was signed, in Unix seconds;
* ``webhook-signature`` — ``v1,<base64 of HMAC-SHA256(key, "id.timestamp.body")>``;
  several, space-separated, while the endpoint's secret is being rotated.

:func:`verify` checks all of it with the standard library only (``pip install jditem`` is
enough) and accepts what the Standard Webhooks libraries of other languages sign, and the
other way round. Pass the body exactly as received (bytes), never re-serialised JSON::

    from jditem.webhooks import verify

    event = verify(request_body, request_headers, "whsec_...")   # raises if not authentic

This module imports nothing from the server: receivers need only the client library.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from jditem.errors import ConfigurationError, WebhookVerificationError

__all__ = ["DEFAULT_TOLERANCE", "SECRET_PREFIX", "signing_key", "verify"]

#: Seconds a signature's timestamp may lie before or after the receiver's clock.
DEFAULT_TOLERANCE = 300
#: How a signing secret starts (the rest is the base64 of the key).
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret


class HeaderItems(Protocol):
    """Anything with ``items()`` of header pairs (``email.message.Message``, WSGI helpers)."""

    def items(self) -> Iterable[tuple[str, Any]]:
        """(name, value) pairs."""
        ...


_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_SHOWN = 40  # characters of a received header quoted in an error message


def signing_key(secret: str | bytes) -> bytes:
    """The HMAC key of ``secret``: ``whsec_<base64>`` (or the bare base64), or raw bytes.

    Raises :class:`~jditem.errors.ConfigurationError` (never quoting the secret) when it is
    empty or not base64.
    """
    if isinstance(secret, bytes):
        key = secret
    else:
        text = secret.strip().removeprefix(SECRET_PREFIX)
        try:
            key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            key = b""
    if not key:
        raise ConfigurationError(
            "the webhook secret is not a signing secret: expected whsec_ followed by base64 "
            "(the secret shown when the endpoint was added or rotated)"
        )
    return key


def _keys(secret: str | bytes | Iterable[str | bytes]) -> list[bytes]:
    if isinstance(secret, str | bytes):
        return [signing_key(secret)]
    keys = [signing_key(one) for one in secret]
    if not keys:
        raise ConfigurationError("no webhook secret given: pass the endpoint's whsec_ secret")
    return keys


def _quoted(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "…")


def verify(
    body: bytes | str,
    headers: Mapping[str, str] | HeaderItems,
    secret: str | bytes | Iterable[str | bytes],
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a received webhook and return its event (the JSON body, parsed).

    Args:
        body: the request body exactly as received (``str`` is taken as its UTF-8 bytes).
        headers: the request headers: any mapping, or anything with ``items()`` (names
            are matched case-insensitively).
        secret: the endpoint's ``whsec_…`` secret, or several (each is tried: keep the old
            and the new one while you roll your configuration after a rotation).
        tolerance: seconds the ``webhook-timestamp`` may differ from ``now`` either way
            (replayed old messages are refused; keep your clock in sync).
        now: the receiver's time in Unix seconds (default: the system clock).

    Raises:
        WebhookVerificationError: a header is missing or malformed, the timestamp is
            outside the tolerance, no signature matches, or the signed body is not a JSON
            object. ``reason`` names the check; answer such a request with HTTP 400.
        ConfigurationError: ``secret`` is not a signing secret, or ``tolerance`` < 0.
    """
    if tolerance < 0:
        raise ConfigurationError(f"tolerance must be >= 0 seconds, got {tolerance!r}")
    keys = _keys(secret)
    payload = body.encode() if isinstance(body, str) else bytes(body)
    lowered = {str(name).lower(): str(value) for name, value in headers.items()}
    missing = [
        name
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
        if not lowered.get(name, "").strip()
    ]
    if missing:
        raise WebhookVerificationError(
            f"missing webhook header(s): {', '.join(missing)}; is this request from a "
            "jditem server (or another Standard Webhooks sender)?",
            reason="missing_header",
        )
    msg_id = lowered["webhook-id"].strip()
    stamp = lowered["webhook-timestamp"].strip()
    if not _TIMESTAMP.fullmatch(stamp):
        raise WebhookVerificationError(
            f"webhook-timestamp {_quoted(stamp)} is not a Unix time in whole seconds",
            reason="bad_timestamp",
        )
    clock = time.time() if now is None else now
    age = clock - int(stamp)
    if age > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is {age:.0f} s old, more than the {tolerance:g} s tolerance: "
            "a replayed message, or this machine's clock is wrong",
            reason="timestamp_too_old",
        )
    if -age > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is {-age:.0f} s in the future, more than the {tolerance:g} s "
            "tolerance: this machine's clock (or the sender's) is wrong",
            reason="timestamp_too_new",
        )
    signed = f"{msg_id}.{stamp}.".encode() + payload
    expected = [base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()) for key in keys]
    offered = [
        sig.encode()
        for version, _, sig in (
            part.partition(",") for part in lowered["webhook-signature"].split()
        )
        if version == "v1"
    ]
    if not offered:
        raise WebhookVerificationError(
            "webhook-signature holds no v1 signature (expected v1,<base64>)",
            reason="no_signature",
        )
    # Every pair is compared (constant time each), so the time taken says nothing about
    # which signature or key came close.
    matched = False
    for want in expected:
        for got in offered:
            matched |= hmac.compare_digest(want, got)
    if not matched:
        raise WebhookVerificationError(
            f"no signature of webhook {_quoted(msg_id)} matches the secret: check the secret "
            "(after a rotation, the new one), and pass the raw body, not re-encoded JSON",
            reason="no_matching_signature",
        )
    try:
        event = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        event = None
    if not isinstance(event, dict):
        raise WebhookVerificationError(
            "the webhook is signed, but its body is not a JSON object", reason="bad_payload"
        )
    return event
