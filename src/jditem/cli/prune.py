"""``jditem admin prune``: apply the retention settings to the server's database."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from jditem.wording import plural

if TYPE_CHECKING:
    from jditem.server.store.retention import PruneReport


def register(admin_app: typer.Typer) -> None:
    """Register ``jditem admin prune`` on the ``admin`` group."""

    @admin_app.command("prune")
    def prune(
        ctx: typer.Context,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Only count what would be deleted.")
        ] = False,
    ) -> None:
        """Delete call records, finished tasks and other rows past their retention.

        Retention comes from the server settings: JDITEM_CALL_RECORD_RETENTION_DAYS
        (default 90), JDITEM_TASK_RETENTION_DAYS (30), JDITEM_UNKNOWN_TOKEN_SAMPLES
        (1000), JDITEM_IDEMPOTENCY_TTL_SECONDS. Hourly usage counts are kept. Safe to
        run while the server is running (e.g. daily from cron).
        """
        from sqlalchemy.exc import SQLAlchemyError

        from jditem.cli.admin import _fail, _settings
        from jditem.cli.serve import database_problem
        from jditem.server.clock import utc_now
        from jditem.server.store.db import Database, migrate
        from jditem.server.store.retention import prune as run_prune

        settings = _settings(ctx)

        async def main() -> PruneReport:
            db = Database.from_url(settings.effective_database_url)
            try:
                await migrate(db.engine)
                return await run_prune(db, settings, utc_now(), dry_run=dry_run)
            finally:
                await db.dispose()

        try:
            report = asyncio.run(main())
        except (SQLAlchemyError, OSError) as exc:
            raise _fail(database_problem(exc, settings.effective_database_url)) from None
        verb = "would delete" if report.dry_run else "deleted"
        for table, count in report.deleted.items():
            typer.echo(f"{table}: {verb} {count}")
        typer.echo(f"total: {verb} {plural(report.total, 'row')}")
