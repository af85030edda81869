"""Item ids: validation (SPEC §2: 1–20 ASCII digits) and JD item URL parsing."""

from __future__ import annotations

import re

ITEM_ID_MAX_LEN = 20
_ITEM_ID = re.compile(r"[0-9]{1,20}")
_JD_URL = re.compile(
    r"""^(?:https?://)?
        (?:item\.jd\.com/|item\.m\.jd\.com/product/|item\.jd\.hk/|npcitem\.jd\.hk/)
        ([0-9]{1,20})\.html
        (?:[?#].*)?$""",
    re.VERBOSE | re.IGNORECASE,
)


def is_valid_item_id(value: str) -> bool:
    """True for 1–20 ASCII digits, nothing else (no sign, spaces or unicode digits)."""
    return value.isascii() and _ITEM_ID.fullmatch(value) is not None


def item_id_problem(value: str | None) -> str | None:
    """Why ``value`` is not a valid item id, or ``None`` when it is valid."""
    if value is None or value == "":
        return "itemId is required: pass 1-20 ASCII digits, e.g. itemId=100012043978"
    if len(value) > ITEM_ID_MAX_LEN:
        return f"itemId is too long ({len(value)} characters): at most 20 ASCII digits"
    if not is_valid_item_id(value):
        return "itemId must be 1-20 ASCII digits (no sign, spaces, letters or non-ASCII digits)"
    return None


def parse_item_ref(text: str) -> str | None:
    """An item id from a bare id or a JD item URL; ``None`` when ``text`` is neither.

    Accepts ``100012043978``, ``https://item.jd.com/100012043978.html`` and
    ``https://item.m.jd.com/product/100012043978.html?x=1`` (with or without scheme).
    """
    text = text.strip()
    if is_valid_item_id(text):
        return text
    match = _JD_URL.match(text)
    return match.group(1) if match else None


#: Longest accepted ``Idempotency-Key`` header value.
IDEMPOTENCY_KEY_MAX_LEN = 128


def idempotency_key_problem(value: str) -> str | None:
    """Why ``value`` is not a valid ``Idempotency-Key`` (1-128 printable ASCII
    characters), or ``None`` when it is valid. The message never repeats the key."""
    if not value:
        return "Idempotency-Key is empty: send 1-128 printable ASCII characters, or omit it"
    if len(value) > IDEMPOTENCY_KEY_MAX_LEN:
        return (
            f"Idempotency-Key is too long ({len(value)} characters): "
            f"use at most {IDEMPOTENCY_KEY_MAX_LEN} printable ASCII characters"
        )
    if not (value.isascii() and value.isprintable()):  # " " .. "~" only
        return (
            "Idempotency-Key must be printable ASCII (no control or non-ASCII characters); "
            "e.g. a UUID or '<job>-<item id>'"
        )
    return None


#: Response header by which a server says it honours ``Idempotency-Key`` (jditem's own
#: does, on every v2 answer): ``Idempotency-Key-Honoured: ttl=86400`` — a repeat of a
#: charged call with the same token, key and item within ``ttl`` seconds is a free
#: replay. Clients resend an ambiguous call (sent, no complete answer) only on this
#: evidence; the vendor does not send it (it ignores the key).
KEYS_HONOURED_HEADER = "Idempotency-Key-Honoured"

_HONOURED_VALUE = re.compile(r"\s*ttl\s*=\s*([0-9]{1,10})\s*")


def keys_honoured_value(ttl_seconds: int) -> str:
    """The :data:`KEYS_HONOURED_HEADER` value for keys kept ``ttl_seconds``."""
    return f"ttl={int(ttl_seconds)}"


def parse_keys_honoured(value: str | None) -> int | None:
    """The ttl (seconds, > 0) announced by a :data:`KEYS_HONOURED_HEADER` value, else ``None``
    (absent or malformed: no evidence that keys are honoured)."""
    if not value:
        return None
    match = _HONOURED_VALUE.fullmatch(value)
    if match is None:
        return None
    ttl = int(match.group(1))
    return ttl if ttl > 0 else None
