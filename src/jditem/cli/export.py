"""``jditem export``: write the products a job's journal holds to a file (no HTTP call)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jditem.cli.batch_options import (
    CsvBomOption,
    ForceOption,
    FormatOption,
    RawPayloadOption,
)
from jditem.cli.exits import usage_error
from jditem.wording import plural


def export_command(
    job: Annotated[str, typer.Argument(metavar="JOB", help="Job name (see: jditem jobs).")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="File to write.", show_default=False)
    ],
    fmt: FormatOption = None,
    force: ForceOption = False,
    csv_bom: CsvBomOption = False,
    raw_payload: RawPayloadOption = False,
) -> None:
    """Write the products a job's journal holds to a file (no HTTP call)."""
    from jditem.batch.export import ExportError, guess_format, open_writer
    from jditem.batch.job_files import JournalError, default_home, journal_path, resume_command
    from jditem.batch.journal import Journal
    from jditem.batch.outputs import OutputRefused, OutputRegistry
    from jditem.formats.xlsx import TooManyRows

    home = default_home()
    try:
        path = journal_path(home, job)
    except JournalError as exc:
        raise usage_error(str(exc)) from None
    if not path.exists():
        raise usage_error(
            f"no job named {job} under {home / 'jobs'}; list the jobs with: jditem jobs"
        )
    try:
        out_format = guess_format(output, fmt.value if fmt else None)
        with OutputRegistry.in_home(home) as registry:
            registry.check(output, force=force)
    except (ExportError, OutputRefused) as exc:
        raise usage_error(str(exc)) from None
    with Journal(path) as journal:
        try:
            writer = open_writer(output, out_format, raw=raw_payload, bom=csv_bom)
        except ExportError as exc:
            raise usage_error(str(exc)) from None
        try:
            for item_id, product_json in journal.iter_done():
                writer.write(product_json, item_id)
        except TooManyRows as exc:
            writer.abandon()
            raise usage_error(str(exc)) from None
        except BaseException:
            writer.abandon()
            raise
        try:
            writer.close()
        except ExportError as exc:
            raise usage_error(str(exc)) from None
        with OutputRegistry.in_home(home) as registry:
            registry.record(output, job)
        counts = journal.counts()
    typer.echo(f"exported {plural(writer.rows, 'product')} of job {job} to {output}")
    if writer.mismatches:
        typer.echo(
            f"warning: {writer.mismatches} product(s) carry an id other than the one asked "
            "for; they are flagged in the id_mismatch column",
            err=True,
        )
    left = counts["todo"] + counts["inflight"] + counts["pending"]
    if left or counts["failed"]:
        typer.echo(
            f"note: {left} item(s) not fetched yet, {counts['failed']} failed; "
            f"continue with: {resume_command(job)}"
        )


def register(app: typer.Typer) -> None:
    """Register ``export`` on ``app``."""
    app.command("export")(export_command)
