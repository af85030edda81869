"""``jditem worker``: a process that only collects (no HTTP), for the scale-out profile.

It claims tasks from the shared database, collects them and completes them, exactly
like the in-process workers of ``jditem serve``; wake-ups come through Redis (a new
task wakes one idle worker anywhere; a completion wakes the waiting callers in every
API process). Stops cleanly on SIGINT/SIGTERM: running collections finish or are
abandoned to the lease reaper of another process.
"""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jditem.cli.server_db import load_server_settings

if TYPE_CHECKING:
    from jditem.server.settings import Settings


async def run_worker(settings: Settings) -> None:
    """Build the worker's context, run until SIGINT/SIGTERM, then stop it (bounded)."""
    from jditem.server.context import build_context
    from jditem.server.jobs.watch_scheduler import WatchScheduler
    from jditem.server.jobs.webhook_dispatcher import Dispatcher

    ctx = await build_context(settings)
    scheduler = WatchScheduler(settings, ctx.db, ctx.admission, ctx.clock)
    dispatcher = Dispatcher(settings, ctx.db, ctx.clock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await ctx.start()
        if settings.watch_scheduler:
            scheduler.start()  # active in one process of the deployment (its lease)
        if settings.webhook_dispatcher:
            dispatcher.start()  # in every worker: each endpoint is leased by one at a time
        typer.echo(
            f"worker ready: {settings.workers} collection workers "
            f"({'shared state in Redis' if settings.redis_url is not None else 'no Redis'})"
        )
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        try:
            await dispatcher.stop()
            await scheduler.stop()
        finally:
            await ctx.stop()


def register(app: typer.Typer) -> None:
    """Register ``jditem worker``."""

    @app.command()
    def worker(
        db: Annotated[
            str | None,
            typer.Option(help="Database URL shared with the API processes (or SQLite path)."),
        ] = None,
        redis: Annotated[
            str | None,
            typer.Option(help="Redis URL shared with the API processes (JDITEM_REDIS_URL)."),
        ] = None,
        workers: Annotated[
            int, typer.Option(min=1, help="Collection workers in this process.")
        ] = 16,
    ) -> None:
        """Collect only: claim tasks from the shared database (no HTTP; scale-out)."""
        from jditem.server.http.config import configure_logging

        overrides: dict[str, Any] = {"workers": workers, "role": "worker"}
        if redis:
            overrides["redis_url"] = redis
        settings = load_server_settings(db, overrides)
        configure_logging()  # jditem's warnings (e.g. Redis unreachable) on stderr, as serve's
        if settings.redis_url is None:
            typer.echo(
                "note: no --redis / JDITEM_REDIS_URL: API processes learn of completed "
                "tasks only by re-reading the database (slower answers).",
                err=True,
            )
        try:
            asyncio.run(run_worker(settings))
        except Exception as exc:
            typer.echo(f"error: the worker stopped: {type(exc).__name__}: {exc}", err=True)
            raise typer.Exit(1) from None
