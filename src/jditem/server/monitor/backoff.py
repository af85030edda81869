"""When to retry a webhook delivery (SPEC §6.3): exponential slots, full jitter, ≥ 24 h.

Pure: no I/O, no clock reads, no random state. The model:

* Retry *k* (attempt *k* + 1; attempt 1 is the first delivery) falls in **slot k** of a
  timetable measured from the first attempt: slots follow one another, slot *k* lasting
  ``d_k = min(cap, first · factor^(k−1))`` seconds (exponential, capped), times
  ``multiplier`` (1 in production; a setting lowers it to run the whole schedule in
  seconds in tests and demos).
* **Full jitter within the slot**: retry *k* is at ``u_k · d_k`` into its slot, with
  ``u_k`` uniform in [0, 1) drawn from a digest of (``seed``, *k*) — the message id is
  the natural seed. Nothing random is stored: any process recomputes any attempt's
  draw from the id alone, so a dispatcher restart changes no time, and deliveries to
  one endpoint that failed together spread over each slot instead of retrying in step.
  Each wait is the rest of the previous slot plus a part of the next: at most two
  slots, and near zero when two draws meet at a slot boundary.
* **Never gives up before 24 h**: after the last retry fails
  (:meth:`RetrySchedule.next_attempt` answers ``None``; the caller disables the
  endpoint), at least every slot but the last has passed since the first attempt. The
  defaults (first slot 5 s, ×4, capped at 6 h, 11 retries: 5 s, 20 s, 80 s, 5 min,
  21 min, 85 min, 5.7 h, then 6 h slots) make the last attempt 25.6 h to 31.6 h after
  the first — Svix retries for about 27 h, Stripe for up to 3 days. A schedule that
  could give up sooner than :data:`MIN_TOTAL_SECONDS` (at multiplier 1) is refused.

Waits are measured from ``now``, the end of the failed attempt, so a dispatcher that was
down resumes where the timetable says, shifted by the outage, without a burst.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["MIN_TOTAL_SECONDS", "RetrySchedule", "jitter"]

#: The least time between the first attempt and giving up, at multiplier 1 (24 h).
MIN_TOTAL_SECONDS = 24 * 3600.0


def jitter(seed: str | bytes, slot: int) -> float:
    """The draw ``u`` in [0, 1) of ``slot`` for ``seed``: 53 bits of BLAKE2b(seed, slot)."""
    raw = seed.encode() if isinstance(seed, str) else seed
    digest = hashlib.blake2b(raw + b"|" + str(slot).encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 11) * 2.0**-53


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """A webhook retry timetable (see the module); immutable, validated on creation."""

    first: float = 5.0
    """Length of the first slot, seconds."""
    factor: float = 4.0
    """Each slot is this many times the one before, up to ``cap``."""
    cap: float = 6 * 3600.0
    """The longest slot, seconds."""
    retries: int = 11
    """Retries after the first attempt; then give up."""
    multiplier: float = 1.0
    """Scales every slot; below 1 shortens the schedule (tests, demos)."""

    def __post_init__(self) -> None:
        if not (0 < self.first <= self.cap) or not self.factor >= 1:
            raise ValueError(
                f"retry schedule needs 0 < first ≤ cap and factor ≥ 1, got first={self.first!r}, "
                f"cap={self.cap!r}, factor={self.factor!r}"
            )
        if not 1 <= self.retries <= 100:
            raise ValueError(f"retries must be 1 to 100, got {self.retries!r}")
        if not 0 < self.multiplier <= 1:
            raise ValueError(
                f"the retry multiplier must be > 0 and ≤ 1 (it only shortens the schedule), "
                f"got {self.multiplier!r}"
            )
        unscaled = sum(self._slot(k) for k in range(1, self.retries))
        if unscaled < MIN_TOTAL_SECONDS:
            raise ValueError(
                f"this retry schedule could give up {unscaled / 3600:.1f} h after the first "
                f"attempt; it must keep trying for at least {MIN_TOTAL_SECONDS / 3600:g} h "
                "(add retries or raise the cap)"
            )

    def _slot(self, k: int) -> float:
        return min(self.cap, self.first * self.factor ** (k - 1))

    def slot(self, k: int) -> float:
        """Length of slot ``k`` (1 … ``retries``) in seconds, multiplier applied."""
        if not 1 <= k <= self.retries:
            raise ValueError(f"slot must be 1 to {self.retries}, got {k!r}")
        return self._slot(k) * self.multiplier

    def offset(self, attempt_no: int, seed: str | bytes) -> float:
        """Seconds from the first attempt to attempt ``attempt_no`` (1 … retries + 1)."""
        if not 1 <= attempt_no <= self.retries + 1:
            raise ValueError(f"attempt_no must be 1 to {self.retries + 1}, got {attempt_no!r}")
        k = attempt_no - 1  # the retry's slot; 0 = the first attempt, at 0
        if k == 0:
            return 0.0
        return sum(self.slot(j) for j in range(1, k)) + jitter(seed, k) * self.slot(k)

    def delay(self, attempt_no: int, seed: str | bytes) -> float | None:
        """Seconds to wait after attempt ``attempt_no`` failed; ``None``: give up."""
        if attempt_no < 1:
            raise ValueError(f"attempt_no counts from 1 (the first delivery), got {attempt_no!r}")
        if attempt_no > self.retries:
            return None
        # the rest of the failed attempt's slot, then the next retry's part of its own
        k = attempt_no
        rest = (1 - jitter(seed, k - 1)) * self.slot(k - 1) if k > 1 else 0.0
        return rest + jitter(seed, k) * self.slot(k)

    def next_attempt(self, attempt_no: int, now: datetime, seed: str | bytes) -> datetime | None:
        """When to make attempt ``attempt_no + 1``, after attempt ``attempt_no`` failed at ``now``.

        ``None``: the retries are used up — give up (disable the endpoint, tell the account).
        """
        wait = self.delay(attempt_no, seed)
        return None if wait is None else now + timedelta(seconds=wait)

    @property
    def shortest_total(self) -> float:
        """The least seconds from the first attempt to giving up (every slot but the last)."""
        return sum(self.slot(k) for k in range(1, self.retries))

    @property
    def longest_total(self) -> float:
        """The most seconds from the first attempt to the last retry (every slot)."""
        return sum(self.slot(k) for k in range(1, self.retries + 1))
