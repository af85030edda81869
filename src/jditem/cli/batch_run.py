"""A ``jditem batch`` run in the terminal: Ctrl-C handling, and its exit code."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import TYPE_CHECKING

import typer

from jditem.cli.exits import ExitCode, exit_code_for

if TYPE_CHECKING:
    import httpx

    from jditem.batch.engine import BatchRun
    from jditem.batch.export import Writer
    from jditem.batch.job import JobReport
    from jditem.batch.journal import Journal
    from jditem.batch.progress import ProgressDisplay
    from jditem.client import AsyncClient


async def run_interruptibly(
    run: BatchRun,
    client: AsyncClient,
    journal: Journal,
    writer: Writer,
    display: ProgressDisplay,
    http: httpx.AsyncClient | None,
    retry_failed: bool,
    retry_uncertain: bool,
) -> JobReport:
    """Run the job; ``http`` (the aiohttp transport's client, ours to close) is closed."""
    from jditem.batch.job import run_job

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    presses = 0

    def on_signal() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            run.request_stop("interrupted")
            typer.echo(
                "\nStopping: no new calls; waiting for the calls on the wire "
                "(Ctrl-C again to abandon them)…",
                err=True,
            )
        elif task is not None:
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # non-Unix loops
            loop.add_signal_handler(sig, on_signal)
    try:
        async with client:
            report = await run_job(
                run,
                journal,
                writer,
                retry_failed=retry_failed,
                retry_uncertain=retry_uncertain,
                display=display,
            )
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if http is not None:
            await http.aclose()
    if presses:
        report.interrupted = True
    return report


def batch_exit_code(report: JobReport) -> int:
    """The exit code of a run: those of ``jditem get`` for a fatal error, 130 on
    Ctrl-C, 1 when items failed, are uncertain or are left to do."""
    if report.fatal is not None:
        return exit_code_for(report.fatal)
    if report.interrupted:
        return ExitCode.INTERRUPTED
    if report.counts.get("failed", 0) or report.counts.get("uncertain", 0) or not report.complete:
        return ExitCode.OTHER
    return ExitCode.OK
