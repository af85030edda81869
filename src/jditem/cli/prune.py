"""``jditem admin prune``: apply the retention settings to the server's database."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from jditem.cli.serve import SettingsInvalid, load_settings, settings_error
from jditem.wording import plural

if TYPE_CHECKING:
    from jditem.server.retention import PruneReport


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
        from jditem.server.retention import prune as run_prune
        from jditem.server.store.db import Database, migrate
        from jditem.server.tasks.clock import utc_now

        obj = ctx.obj if isinstance(ctx.obj, dict) else {}
        db_option = obj.get("db")
        try:
            settings = load_settings(db_option if isinstance(db_option, str) else None)
        except SettingsInvalid as exc:
            typer.echo(f"error: {settings_error(exc)}", err=True)
            raise typer.Exit(1) from None

        async def main() -> PruneReport:
            db = Database.from_url(settings.effective_database_url)
            try:
                await migrate(db.engine)
                return await run_prune(db, settings, utc_now(), dry_run=dry_run)
            finally:
                await db.dispose()

        report = asyncio.run(main())
        verb = "would delete" if report.dry_run else "deleted"
        for table, count in report.deleted.items():
            typer.echo(f"{table}: {verb} {count}")
        typer.echo(f"total: {verb} {plural(report.total, 'row')}")
