"""Task ids: ``t_`` + a ULID-like, time-sortable random string.

26 Crockford base-32 characters: 48 bits of milliseconds since the epoch, then 80
random bits (``secrets``). Ids created later sort after earlier ones (to the
millisecond), which keeps ``ORDER BY id`` close to submission order.
"""

from __future__ import annotations

import secrets
import time

TASK_ID_PREFIX = "t_"
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_ulid(ms: int | None = None) -> str:
    """A 26-character ULID-like string for the given (or current) time in milliseconds."""
    millis = time.time_ns() // 1_000_000 if ms is None else ms
    return _encode(millis & ((1 << 48) - 1), 10) + _encode(secrets.randbits(80), 16)


def new_task_id(ms: int | None = None) -> str:
    """A new task id, e.g. ``t_01JD8ZQ3V6X1R5E2C0T9B7K4MH``."""
    return TASK_ID_PREFIX + new_ulid(ms)
