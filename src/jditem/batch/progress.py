"""Progress output of a batch run: a rich bar, JSON lines, or nothing.

``auto`` picks the bar when the output stream is a terminal and nothing otherwise;
``json`` prints one :meth:`BatchStats.snapshot` object per second (for logs). Progress
never shows a token: it only reads the counters of :class:`BatchStats`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import Any, Literal, TextIO

from jditem.batch.stats import BatchStats

Mode = Literal["auto", "bar", "json", "none"]
MODES: tuple[Mode, ...] = ("auto", "bar", "json", "none")


def settled(stats: BatchStats) -> int:
    """Items done, failed or uncertain, before this run and in it: the bar's "done" (the
    summary's "settled" count is the same number). Items left pending are not settled."""
    return stats.already_done + stats.done + stats.cached + stats.failed + stats.uncertain


class ProgressDisplay:
    """Base display: shows nothing. Use as ``async with display:`` around a run."""

    interval = 1.0

    def __init__(self, stats: BatchStats, *, stream: TextIO | None = None) -> None:
        self.stats = stats
        self.stream = stream if stream is not None else sys.stderr
        self._ticker: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Called once before the first tick."""

    def tick(self) -> None:
        """Show the current counters."""

    def stop(self) -> None:
        """Show the final counters and release the terminal."""

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.tick()

    async def __aenter__(self) -> ProgressDisplay:
        self.start()
        self._ticker = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self.stop()


class JsonProgress(ProgressDisplay):
    """One JSON object per second, and a last one at the end."""

    def tick(self) -> None:
        self.stream.write(json.dumps(self.stats.snapshot(), separators=(",", ":")) + "\n")
        self.stream.flush()

    def stop(self) -> None:
        self.tick()


class BarProgress(ProgressDisplay):
    """A rich progress bar: done/total, pending, failed, cached, calls, rate, ETA."""

    interval = 0.2
    BAR_WIDTH = 16

    def __init__(
        self, stats: BatchStats, *, stream: TextIO | None = None, force_terminal: bool = False
    ) -> None:
        super().__init__(stats, stream=stream)
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.table import Column

        console = Console(file=self.stream, force_terminal=force_terminal or None)
        # Done/total, elapsed and ETA come first and never shrink; on a narrow (80-column)
        # terminal the details get shorter and the bar gives way (see _fields).
        self._console = console
        self._bar = BarColumn(bar_width=self.BAR_WIDTH, table_column=Column(no_wrap=True))
        self._progress = Progress(
            MofNCompleteColumn(table_column=Column(no_wrap=True, justify="right")),
            TimeElapsedColumn(table_column=Column(no_wrap=True)),
            TextColumn("ETA {task.fields[eta]}", table_column=Column(no_wrap=True)),
            self._bar,
            TextColumn("{task.fields[details]}", markup=False, table_column=Column(no_wrap=True)),
            console=console,
            refresh_per_second=5,
        )
        self._task = self._progress.add_task("batch", total=stats.total, **self._fields())

    def _variants(self) -> list[str]:
        """The details, longest first: with the call rate, without it, tighter, and
        without the zero counts other than ``cached`` and ``302``."""
        stats = self.stats
        named = [
            ("failed", stats.failed),
            ("pending", stats.pending),
            ("calls", stats.calls),
            ("cached", stats.cached),
            ("302", stats.throttled),
        ]
        rate = f" ({stats.calls_per_s:.1f}/s)"
        return [
            " · ".join(f"{k} {v}{rate if k == 'calls' else ''}" for k, v in named),
            " · ".join(f"{k} {v}" for k, v in named),
            " ".join(f"{k} {v}" for k, v in named),
            " ".join(f"{k} {v}" for k, v in named if v or k in ("cached", "302")),
        ]

    def _fields(self) -> dict[str, Any]:
        stats = self.stats
        eta = stats.eta_s
        eta_text = "-" if eta is None else f"{int(eta) // 60}:{int(eta) % 60:02d}"
        # done/total, elapsed and ETA always fit; the details and the bar share the rest
        digits = len(str(max(stats.total, settled(stats), 1)))
        fixed = (2 * digits + 1) + 8 + (4 + len(eta_text)) + 5
        room = max(0, self._console.width - fixed)
        variants = self._variants()
        # the full bar with shorter details; then a shorter bar; zero counts go last
        tries = [
            *((v, self.BAR_WIDTH) for v in variants[:-1]),
            *((v, 0) for v in variants[:-1]),
            (variants[-1], self.BAR_WIDTH),
            (variants[-1], 0),
        ]
        details, bar = next(((v, b) for v, b in tries if len(v) + 1 + b <= room), ("", 0))
        if not details:
            tight = variants[-1]
            details = tight[: max(0, room - 1)] + "…" if room else ""
        elif bar == 0:
            bar = min(self.BAR_WIDTH, max(0, room - len(details) - 1))
        self._bar.bar_width = bar
        return {"eta": eta_text, "details": details}

    def start(self) -> None:
        self._progress.start()
        self.tick()

    def tick(self) -> None:
        stats = self.stats
        self._progress.update(
            self._task,
            total=stats.total,
            completed=settled(stats),
            **self._fields(),
        )

    def stop(self) -> None:
        self.tick()
        self._progress.stop()


def make_progress(mode: str, stats: BatchStats, *, stream: TextIO | None = None) -> ProgressDisplay:
    """The display for ``mode`` (``auto``: a bar on a terminal, else nothing)."""
    out = stream if stream is not None else sys.stderr
    if mode == "auto":
        mode = "bar" if out.isatty() else "none"
    if mode == "bar":
        return BarProgress(stats, stream=out, force_terminal=True)
    if mode == "json":
        return JsonProgress(stats, stream=out)
    if mode == "none":
        return ProgressDisplay(stats, stream=out)
    raise ValueError(f"unknown progress mode {mode!r}: use one of {', '.join(MODES)}")
