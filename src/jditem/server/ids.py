"""Time-sortable ids: ``t_`` + a ULID-like string for tasks (request and job ids too).

26 Crockford base-32 characters: 48 bits of milliseconds since the epoch, then 80
random bits. Ids created later sort after earlier ones (to the millisecond), which keeps
``ORDER BY id`` close to submission order.
"""

from __future__ import annotations

import base64
import random
import secrets
import time
from collections.abc import Callable

TASK_ID_PREFIX = "t_"
#: Change events (SPEC §6.3): ``evt_`` + a ULID.
EVENT_ID_PREFIX = "evt_"

#: Maps each RFC 4648 base-32 digit to Crockford's digit of the same value.
_CROCKFORD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)
_MILLIS_MASK = (1 << 48) - 1


def new_ulid(ms: int | None = None, *, randbits: Callable[[int], int] = secrets.randbits) -> str:
    """A 26-character ULID-like string for the given (or current) time in milliseconds.

    ``randbits`` supplies the 80 random bits (``secrets.randbits`` by default; the
    per-request id passes the cheaper :func:`random.getrandbits`).
    """
    millis = (time.time_ns() // 1_000_000 if ms is None else ms) & _MILLIS_MASK
    value = (millis << 80) | randbits(80)
    # 20 bytes = 32 base-32 digits; the last 26 are the 128-bit value, left-padded.
    return base64.b32encode(value.to_bytes(20, "big"))[6:].translate(_CROCKFORD).decode()


def event_id_floor(ms: int) -> str:
    """The lowest event id of the millisecond ``ms``: every event id from then sorts after."""
    return EVENT_ID_PREFIX + new_ulid(ms, randbits=_no_bits)


def new_task_id(ms: int | None = None) -> str:
    """A new task id, e.g. ``t_01JD8ZQ3V6X1R5E2C0T9B7K4MH``."""
    return TASK_ID_PREFIX + new_ulid(ms)


#: Crockford's base-32 digits, and every pair of them by the 10-bit value it encodes.
_DIGITS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = tuple(a + b for a in _DIGITS for b in _DIGITS)
#: (millisecond, the first 10 digits of an id of that millisecond): the time part of
#: :func:`new_request_id`, computed once per millisecond.
_request_ms: tuple[int, str] = (-1, "")


def new_request_id() -> str:
    """A new unique, time-sortable request id (26 Crockford base-32 characters).

    The layout of :func:`new_ulid` — the first 10 digits are the millisecond (computed
    once per millisecond), the last 16 the 80 random bits (encoded two digits at a
    time) — with the random bits from :mod:`random` (seeded from the OS, re-seeded in
    forked children) instead of ``secrets``: a request id is a correlation id, not a
    secret, and this runs on every request.
    """
    global _request_ms
    ms = time.time_ns() // 1_000_000
    last, head = _request_ms
    if ms != last:
        head = new_ulid(ms, randbits=_no_bits)[:10]
        _request_ms = (ms, head)
    bits = random.getrandbits(80)
    pairs = _PAIRS
    return (
        head
        + pairs[bits >> 70]
        + pairs[(bits >> 60) & 1023]
        + pairs[(bits >> 50) & 1023]
        + pairs[(bits >> 40) & 1023]
        + pairs[(bits >> 30) & 1023]
        + pairs[(bits >> 20) & 1023]
        + pairs[(bits >> 10) & 1023]
        + pairs[bits & 1023]
    )


def _no_bits(_bits: int) -> int:
    return 0
