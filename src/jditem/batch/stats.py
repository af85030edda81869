"""Live counters of a batch run, read by the progress display and the summary."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class BatchStats:
    """What a run has done so far (this run only; the journal holds the whole job).

    ``pending`` counts items waiting for a server task right now; ``waiting`` items
    left over as pending at the end (the next run re-attaches to their tasks).
    """

    total: int = 0
    already_done: int = 0
    done: int = 0
    cached: int = 0
    failed: int = 0
    pending: int = 0
    left_pending: int = 0
    calls: int = 0
    throttled: int = 0
    charged_calls: int = 0
    by_code: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    @property
    def finished(self) -> int:
        """Items settled in this run (done, cached, failed or left pending)."""
        return self.done + self.cached + self.failed + self.left_pending

    @property
    def remaining(self) -> int:
        """Items of the job not yet settled."""
        return max(0, self.total - self.already_done - self.finished)

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

    @property
    def eta_s(self) -> float | None:
        """Seconds to go at the current item rate, when measurable."""
        rate = self.items_per_s
        return self.remaining / rate if rate > 0 else None

    def snapshot(self) -> dict[str, object]:
        """A JSON-ready view (what ``--progress json`` prints each second)."""
        eta = self.eta_s
        return {
            "total": self.total,
            "done": self.already_done + self.done + self.cached,
            "fetched": self.done,
            "cached": self.cached,
            "failed": self.failed,
            "pending": self.pending,
            "remaining": self.remaining,
            "calls": self.calls,
            "throttled": self.throttled,
            "callsPerSecond": round(self.calls_per_s, 2),
            "itemsPerSecond": round(self.items_per_s, 2),
            "elapsedSeconds": round(self.elapsed, 1),
            "etaSeconds": None if eta is None else round(eta, 1),
        }
