"""Poisson processes whose events are a pure function of a key: no RNG, no state, O(1) look-ups.

Time (whole seconds, here the sandbox's operational time) is cut into buckets of
``bucket`` seconds. The events in bucket ``k`` come from one BLAKE2b digest of
``(key, k)``: their number is Poisson with mean ``mean``, their offsets uniform in the
bucket. Disjoint buckets are independent, so the events form a Poisson process of rate
``mean / bucket``, and anyone can list the events near any instant without generating
the ones before it: the same key gives the same events in every process, in any order of
questions. Each event also has its own uniforms (:meth:`HashProcess.uniforms`) for the
values it draws.
"""

from __future__ import annotations

import hashlib
import math
import struct
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

__all__ = ["Event", "HashProcess"]

_EIGHT = struct.Struct(">8Q")
_SCALE = 2.0**-64
#: A bucket holds at most this many events (P(more) < 1e-30 for the means used here).
_MAX_EVENTS = 40


class Event(NamedTuple):
    """One event: its time and its identity (bucket, rank in the bucket)."""

    time: int
    bucket: int
    rank: int


def _words(data: bytes) -> tuple[int, ...]:
    return _EIGHT.unpack(hashlib.blake2b(data, digest_size=64).digest())


@lru_cache(maxsize=16_384)
def _bucket_times(key: bytes, bucket: int, mean: float, k: int) -> tuple[int, ...]:
    """The sorted event times of bucket ``k`` (memoised: a pure function of its arguments)."""
    head = key + k.to_bytes(8, "big", signed=True)
    words = _words(head)
    u, p = words[0] * _SCALE, math.exp(-mean)
    count, cumulative = 0, p
    while u >= cumulative and count < _MAX_EVENTS:
        count += 1
        p *= mean / count
        cumulative += p
    offsets = list(words[1 : 1 + count])
    extra = 0
    while len(offsets) < count:
        extra += 1
        offsets += _words(head + extra.to_bytes(2, "big"))[: count - len(offsets)]
    start = k * bucket
    return tuple(sorted(start + ((word * bucket) >> 64) for word in offsets))


@dataclass(frozen=True)
class HashProcess:
    """A Poisson process of rate ``mean / bucket`` events per second, fixed by ``key``."""

    key: bytes
    bucket: int
    mean: float

    def in_bucket(self, k: int) -> list[Event]:
        """The events of bucket ``k`` (times in ``[k * bucket, (k + 1) * bucket)``), in order."""
        times = _bucket_times(self.key, self.bucket, self.mean, k)
        return [Event(time, k, rank) for rank, time in enumerate(times)]

    def last(self, s: int, max_buckets: int = 64) -> Event | None:
        """The latest event at or before ``s`` (``None`` if ``max_buckets`` buckets are empty)."""
        k = s // self.bucket
        for back in range(k, k - max_buckets, -1):
            times = _bucket_times(self.key, self.bucket, self.mean, back)
            rank = bisect_right(times, s)
            if rank:
                return Event(times[rank - 1], back, rank - 1)
        return None

    def between(self, low: int, high: int) -> list[Event]:
        """The events with ``low < time <= high``, in order."""
        return [
            event
            for k in range(low // self.bucket, high // self.bucket + 1)
            for event in self.in_bucket(k)
            if low < event.time <= high
        ]

    def uniforms(self, event: Event) -> tuple[float, ...]:
        """Eight uniforms in ``[0, 1)`` belonging to ``event`` alone."""
        return _event_uniforms(self.key, event.bucket, event.rank)


@lru_cache(maxsize=16_384)
def _event_uniforms(key: bytes, bucket: int, rank: int) -> tuple[float, ...]:
    tag = bucket.to_bytes(8, "big", signed=True) + rank.to_bytes(2, "big")
    return tuple(word * _SCALE for word in _words(key + b"/v" + tag))
