"""``jditem admin prune``: apply the retention settings to the server's database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from jditem.cli.admin.common import fail, settings
from jditem.cli.server_db import DatabaseUnavailableError, database_problem, run_on_database
from jditem.wording import plural

if TYPE_CHECKING:
    from jditem.server.store.db import Database
    from jditem.server.store.retention import PruneReport


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

    from jditem.server.clock import utc_now
    from jditem.server.store.retention import prune as run_prune

    server = settings(ctx)

    async def apply(db: Database) -> PruneReport:
        return await run_prune(db, server, utc_now(), dry_run=dry_run)

    try:
        report = run_on_database(server, apply)
    except DatabaseUnavailableError as exc:
        raise fail(str(exc)) from None
    except (SQLAlchemyError, OSError) as exc:
        raise fail(database_problem(exc, server.effective_database_url)) from None
    verb = "would delete" if report.dry_run else "deleted"
    for table, count in report.deleted.items():
        typer.echo(f"{table}: {verb} {count}")
    typer.echo(f"total: {verb} {plural(report.total, 'row')}")
