"""When a watched item is checked: a fixed grid per item, spread over the interval.

Pure (no I/O, no clock reads). Each (list, item) has a stable *offset* within its list's
interval, from a hash of the two, so a list's checks are spread evenly over the interval
instead of firing together at the top of the hour; its check times are ``offset + k ×
interval`` seconds after the epoch. After a check at ``now`` the next one is the first
grid time after ``now`` — so an item overdue after downtime is checked once, then falls
back onto its grid, never once per missed slot.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def offset_seconds(list_id: int, item_id: str, interval_seconds: int) -> float:
    """The item's stable place in ``[0, interval_seconds)`` (millisecond steps)."""
    digest = hashlib.blake2b(f"{list_id}:{item_id}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") % (interval_seconds * 1000)) / 1000


def next_slot(now: datetime, list_id: int, item_id: str, interval_seconds: int) -> datetime:
    """The item's first grid time strictly after ``now`` (within one interval of it)."""
    offset = offset_seconds(list_id, item_id, interval_seconds)
    elapsed = (now - _EPOCH).total_seconds() - offset
    k = math.floor(elapsed / interval_seconds) + 1
    return _EPOCH + timedelta(seconds=k * interval_seconds + offset)


def slot_key(list_id: int, item_id: str, due: datetime) -> str:
    """The Idempotency-Key of the check due at ``due``: the same for every attempt at
    this slot (a scheduler that takes over after a crash replays a paid check free)."""
    return f"watch-{list_id}-{item_id}-{int((due - _EPOCH).total_seconds() * 1000)}"
