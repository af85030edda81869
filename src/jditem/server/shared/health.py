"""The health window of SPEC §2.7: this process's recent service outcomes, in memory.

:class:`HealthWindow` counts successes (code 0) and failures (301, 500) per second over
the last ``health_window_seconds``. In memory because the health endpoint must stay
cheap under load (counting 15 minutes of call records per probe would not be) and it
describes *this* process's recent service; after a restart the level is ``no_data``
until ``health_min_samples`` outcomes are seen. The scale-out profile's
:class:`~jditem.server.shared.health_redis.SharedHealthWindow` adds every process's counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from jditem.server.settings import Settings

SUCCESS_CODES = frozenset({0})
FAILURE_CODES = frozenset({301, 500})


def outcome_slot(code: int) -> int | None:
    """0 for a success, 1 for a failure, None for a code that says nothing of the service."""
    if code in SUCCESS_CODES:
        return 0
    if code in FAILURE_CODES:
        return 1
    return None


@dataclass(frozen=True)
class HealthReport:
    """The SPEC §2.7 health object."""

    level: str
    label: str
    success_rate: float | None
    samples: int
    window_seconds: int

    def to_wire(self) -> dict[str, object]:
        """camelCase JSON as in SPEC §2.7."""
        return {
            "level": self.level,
            "label": self.label,
            "successRate": self.success_rate,
            "samples": self.samples,
            "windowSeconds": self.window_seconds,
        }


LEVEL_LABELS = {
    "healthy": "Healthy",
    "available": "Available",
    "limited": "Limited",
    "mostly_unavailable": "Mostly unavailable",
    "no_data": "No data",
}


class HealthWindow:
    """Per-second success/failure counters over a sliding window (in memory)."""

    def __init__(self, settings: Settings, *, monotonic: Callable[[], float] = time.monotonic):
        self._settings = settings
        self._monotonic = monotonic
        self._buckets: dict[int, list[int]] = {}

    def observe(self, code: int) -> None:
        """Count ``code`` if it is a service outcome (0 = success, 301/500 = failure)."""
        index = outcome_slot(code)
        if index is None:
            return
        second = int(self._monotonic())
        bucket = self._buckets.get(second)
        if bucket is None:
            bucket = self._buckets[second] = [0, 0]
            self._prune(second)
        bucket[index] += 1

    def _prune(self, now_second: int) -> None:
        oldest = now_second - self._settings.health_window_seconds
        for second in [s for s in self._buckets if s <= oldest]:
            del self._buckets[second]

    def report(self) -> HealthReport:
        """The current level and success rate over the window."""
        settings = self._settings
        now_second = int(self._monotonic())
        self._prune(now_second)
        ok = sum(b[0] for b in self._buckets.values())
        failed = sum(b[1] for b in self._buckets.values())
        return health_report(settings, ok, failed)


def health_report(settings: Settings, ok: int, failed: int) -> HealthReport:
    """The level for ``ok`` successes and ``failed`` failures over the window."""
    samples = ok + failed
    rate = ok / samples if samples else None
    if samples < settings.health_min_samples or rate is None:
        level = "no_data"
    elif rate >= settings.health_healthy:
        level = "healthy"
    elif rate >= settings.health_available:
        level = "available"
    elif rate >= settings.health_limited:
        level = "limited"
    else:
        level = "mostly_unavailable"
    return HealthReport(
        level=level,
        label=LEVEL_LABELS[level],
        success_rate=round(rate, 4) if rate is not None else None,
        samples=samples,
        window_seconds=settings.health_window_seconds,
    )
