"""Live counters of a ``get_many`` run (the batch adds job totals on top)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from jditem.client.calls import CallInfo


@dataclass
class RunStats:
    """What a run has done so far.

    ``pending`` counts items waiting for a server task right now; ``left_pending``
    items the run settled without an answer (still pending at the deadline, or stopped
    on): the next run asks for them again. ``uncertain`` counts items whose last call
    was sent without a complete answer, against a server that does not honour
    ``Idempotency-Key``: they may have been charged, and nothing asks for them again
    automatically. ``charged_calls`` counts answers with a
    product that the server charged for — a free replay of a call already paid under
    the same ``Idempotency-Key`` (``Idempotent-Replayed: true``) is not one.
    """

    done: int = 0
    cached: int = 0
    failed: int = 0
    pending: int = 0
    left_pending: int = 0
    uncertain: int = 0
    calls: int = 0
    throttled: int = 0
    charged_calls: int = 0
    replayed_calls: int = 0
    by_code: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    def count(self, info: CallInfo) -> None:
        """Count one answered (or failed) call."""
        self.calls += 1
        self.by_code[str(info.code) if info.code is not None else info.outcome] += 1
        if info.charged:
            self.charged_calls += 1
        elif info.replayed and info.code == 0:
            self.replayed_calls += 1
        if info.outcome == "rate_limited":
            self.throttled += 1

    @property
    def finished(self) -> int:
        """Items settled in this run (done, cached, failed, uncertain or left pending)."""
        return self.done + self.cached + self.failed + self.uncertain + self.left_pending

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    @property
    def items_per_s(self) -> float:
        """Settled items per second over the whole run."""
        elapsed = self.elapsed
        return self.finished / elapsed if elapsed > 0 else 0.0

    @property
    def calls_per_s(self) -> float:
        """HTTP calls per second over the whole run."""
        elapsed = self.elapsed
        return self.calls / elapsed if elapsed > 0 else 0.0
