"""A whole ``jditem batch`` job: input → journal → engine → output, and its report.

:func:`run_job` is what the CLI runs once the client, journal, cache and writer exist.
It first re-writes every product the journal already holds (so a rerun after a crash
yields each item exactly once in the output), settles what an earlier run left in
flight, then streams the open items of the journal through
:class:`~jditem.batch.engine.BatchRun`, writing each product as it lands.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from jditem import errors
from jditem.batch.engine import BatchRun
from jditem.batch.export import Writer
from jditem.batch.journal import Journal
from jditem.batch.progress import ProgressDisplay
from jditem.batch.stats import BatchStats

#: Uncertain items named in the summary (``jditem jobs show`` lists them all).
UNCERTAIN_SHOWN = 20

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``24h``, ``7d`` or ``1w``."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(
            f"invalid duration {text!r}: use a number with an optional unit, "
            "e.g. 90s, 15m, 24h or 7d"
        )
    return float(match.group(1)) * _UNIT_S[(match.group(2) or "s").lower()]


@dataclass
class JobReport:
    """How a run of a job ended."""

    job: str
    stats: BatchStats
    counts: dict[str, int] = field(default_factory=dict)
    codes: dict[str, int] = field(default_factory=dict)
    exported: int = 0
    fatal: errors.JditemError | None = None
    stop_reason: str | None = None
    #: The run's call budget (``--max-calls``), when the run stopped on it.
    max_calls: int | None = None
    interrupted: bool = False
    calls_after_fatal: int = 0
    abandoned: bool = False
    mismatches: int = 0
    #: False when the run wrote no product and left an existing output file as it was.
    output_written: bool = True
    #: The first :data:`UNCERTAIN_SHOWN` items that may have been charged without an answer.
    uncertain_ids: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every item of the job is done or failed (nothing left to ask for)."""
        return (
            self.counts.get("todo", 0)
            + self.counts.get("inflight", 0)
            + self.counts.get("pending", 0)
            == 0
        )


async def run_job(
    run: BatchRun,
    journal: Journal,
    writer: Writer,
    *,
    retry_failed: bool = False,
    retry_uncertain: bool = False,
    display: ProgressDisplay | None = None,
) -> JobReport:
    """Export what the journal holds, fetch the open items, write each product as it lands.

    ``retry_uncertain`` asks again for the items that may have been charged without an
    answer (under their old key: free where the server honours keys).
    """
    stats = run.stats
    report = JobReport(job=journal.path.stem, stats=stats)
    for item_id, product_json in journal.iter_done():
        writer.write(product_json, item_id)
        report.exported += 1
    # a fresh paid fetch was asked for: new idempotency keys for those items
    journal.new_generation(refresh=run.refresh, retry_failed=retry_failed)
    run.settle_crashed()
    counts = journal.counts()
    stats.total = counts["total"]
    stats.already_done = (
        counts["done"]
        + (0 if retry_failed else counts["failed"])
        + (0 if retry_uncertain else counts["uncertain"])
    )
    display = display if display is not None else ProgressDisplay(stats)
    open_items = journal.iter_open(retry_failed=retry_failed, retry_uncertain=retry_uncertain)
    try:
        async with display:
            async for result in run.results(open_items):
                if result.product_json is not None:
                    writer.write(result.product_json, result.item_id)
                    report.exported += 1
    except errors.JditemError as exc:
        report.fatal = exc
    except asyncio.CancelledError:
        # Abandoned on purpose (a second Ctrl-C): calls on the wire were dropped; their
        # items are settled like a crash's (asked again under the same key where the
        # server honours keys, else uncertain).
        report.interrupted = report.abandoned = True
    finally:
        run.settle_crashed()  # calls of this run abandoned on the wire
        report.stop_reason = run.stop_reason
        report.max_calls = run.max_calls if run.budget_spent else None
        report.calls_after_fatal = run.calls_after_fatal
        report.uncertain_ids = journal.ids_in("uncertain", UNCERTAIN_SHOWN)
        report.counts = journal.counts()
        report.codes = dict(stats.by_code)
        report.mismatches = writer.mismatches
    return report
