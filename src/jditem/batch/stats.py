"""Live counters of a batch job's run, read by the progress display and the summary."""

from __future__ import annotations

from dataclasses import dataclass

from jditem.client.stats import RunStats


@dataclass
class BatchStats(RunStats):
    """What a run has done so far (this run only; the journal holds the whole job).

    Adds the job's totals to :class:`~jditem.client.stats.RunStats`.
    """

    total: int = 0
    already_done: int = 0

    @property
    def remaining(self) -> int:
        """Items of the job not yet settled."""
        return max(0, self.total - self.already_done - self.finished)

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
            "uncertain": self.uncertain,
            "pending": self.pending,
            "remaining": self.remaining,
            "calls": self.calls,
            "throttled": self.throttled,
            "callsPerSecond": round(self.calls_per_s, 2),
            "itemsPerSecond": round(self.items_per_s, 2),
            "elapsedSeconds": round(self.elapsed, 1),
            "etaSeconds": None if eta is None else round(eta, 1),
        }
