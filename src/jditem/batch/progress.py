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

        console = Console(file=self.stream, force_terminal=force_terminal or None)
        self._progress = Progress(
            TextColumn("[bold]batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "pending [yellow]{task.fields[pending]}[/] · failed [red]{task.fields[failed]}"
                "[/] · cached [cyan]{task.fields[cached]}[/] · calls {task.fields[calls]} "
                "({task.fields[rate]}/s) · 302 {task.fields[throttled]}"
            ),
            TimeElapsedColumn(),
            TextColumn("ETA {task.fields[eta]}"),
            console=console,
            refresh_per_second=5,
        )
        self._task = self._progress.add_task("batch", total=stats.total, **self._fields())

    def _fields(self) -> dict[str, Any]:
        stats = self.stats
        eta = stats.eta_s
        return {
            "pending": stats.pending,
            "failed": stats.failed,
            "cached": stats.cached,
            "calls": stats.calls,
            "rate": f"{stats.calls_per_s:.1f}",
            "throttled": stats.throttled,
            "eta": "-" if eta is None else f"{int(eta) // 60}:{int(eta) % 60:02d}",
        }

    def start(self) -> None:
        self._progress.start()
        self.tick()

    def tick(self) -> None:
        stats = self.stats
        self._progress.update(
            self._task,
            total=stats.total,
            completed=stats.already_done + stats.finished,
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
