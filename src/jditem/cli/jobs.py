"""``jditem jobs``: the batch jobs under ``JDITEM_HOME/jobs`` — list, show, remove."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from jditem.cli.config import display_zone
from jditem.cli.exits import ExitCode

jobs_app = typer.Typer(
    help="Batch jobs (their journals under JDITEM_HOME/jobs): list, show, remove.",
    invoke_without_command=True,
)

JobArg = Annotated[str, typer.Argument(metavar="JOB", help="Job name (see: jditem jobs).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _home() -> Path:
    from jditem.batch.job_files import default_home

    return default_home()


def _journal_path(job: str) -> Path:
    from jditem.batch.job_files import JournalError, journal_path

    try:
        path = journal_path(_home(), job)
    except JournalError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(ExitCode.USAGE) from None
    if not path.exists():
        typer.echo(
            f"Error: no job named {job} under {path.parent}; list the jobs with: jditem jobs",
            err=True,
        )
        raise typer.Exit(ExitCode.USAGE)
    return path


def _describe(path: Path, *, detail: bool = False) -> dict[str, Any]:
    from jditem.batch.journal import Journal

    with Journal(path) as journal:
        counts = journal.counts()
        info: dict[str, Any] = {
            "job": path.stem,
            "total": counts["total"],
            "done": counts["done"],
            "failed": counts["failed"],
            "uncertain": counts["uncertain"],
            "open": counts["todo"] + counts["inflight"] + counts["pending"],
            "updated": datetime.fromtimestamp(path.stat().st_mtime)
            .astimezone(display_zone())
            .isoformat(timespec="seconds"),
            "input": journal.get_meta("input"),
            "output": journal.get_meta("output"),
        }
        if detail:
            info["counts"] = counts
            info["format"] = journal.get_meta("format")
            info["base_url"] = journal.get_meta("base_url")
            info["endpoint"] = journal.get_meta("endpoint")
            info["calls"] = journal.call_count()
            info["calls_by_code"] = journal.call_codes()
            info["failures"] = [
                {"item_id": f.item_id, "code": f.code, "error": f.error}
                for f in journal.failures(limit=20)
            ]
            info["uncertain_ids"] = journal.ids_in("uncertain")
    return info


def _next_step(info: dict[str, Any]) -> str | None:
    job = info["job"]
    if info["open"]:
        return f"continue with: jditem batch --job {job} --resume"
    if info["failed"]:
        return f"ask again for the failed items: jditem batch --job {job} --resume --retry-failed"
    if info["uncertain"]:
        return (
            "ask again for the items that may have been charged without an answer (each may "
            f"be charged again): jditem batch --job {job} --resume --retry-uncertain"
        )
    return None


def _list(as_json: bool) -> None:
    from jditem.batch.job_files import jobs_dir

    folder = jobs_dir(_home())
    paths = sorted(folder.glob("*.sqlite"), key=lambda p: p.stat().st_mtime, reverse=True)
    rows = [_describe(path) for path in paths]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo(f"no jobs under {folder} (jditem batch INPUT -o OUT starts one)")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Jobs in {folder}")
    for column in ("job", "items", "done", "failed", "open", "updated", "output"):
        table.add_column(column, no_wrap=column == "job", overflow="fold")
    for row in rows:
        table.add_row(
            row["job"],
            str(row["total"]),
            str(row["done"]),
            str(row["failed"]),
            str(row["open"]),
            row["updated"],
            row["output"] or "-",
        )
    Console(highlight=False).print(table)


@jobs_app.callback()
def _jobs(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Batch jobs (their journals under JDITEM_HOME/jobs): list, show, remove.

    Without a subcommand: the list, newest first.
    """
    if ctx.invoked_subcommand is None:
        _list(as_json)


@jobs_app.command("list")
def jobs_list(as_json: JsonOpt = False) -> None:
    """List the jobs, newest first: items, done, failed, still open, output file."""
    _list(as_json)


@jobs_app.command("show")
def jobs_show(job: JobArg, as_json: JsonOpt = False) -> None:
    """Show one job: counts by state, calls by code, first failures, the next step."""
    info = _describe(_journal_path(job), detail=True)
    if as_json:
        typer.echo(json.dumps(info, ensure_ascii=False, indent=2))
        return
    counts = info["counts"]
    lines = [
        f"Job {job}",
        f"  items: {counts['total']} — {counts['done']} done ({counts['cached']} from the "
        f"local cache), {counts['failed']} failed, {counts['uncertain']} maybe charged "
        f"without an answer, {counts['pending']} pending, {counts['inflight']} in flight, "
        f"{counts['todo']} to do",
        f"  calls: {info['calls']}"
        + (
            " — by code: " + ", ".join(f"{c}: {n}" for c, n in info["calls_by_code"].items())
            if info["calls_by_code"]
            else ""
        ),
        f"  input: {info['input'] or '-'}",
        f"  output: {info['output'] or '-'} ({info['format'] or '-'})",
        f"  server: {info['base_url'] or '-'} ({info['endpoint'] or '-'})",
        f"  updated: {info['updated']}",
    ]
    for failure in info["failures"]:
        lines.append(f"  failed {failure['item_id']} (code {failure['code']}): {failure['error']}")
    if info["uncertain_ids"]:
        lines.append(f"  maybe charged without an answer: {', '.join(info['uncertain_ids'])}")
    step = _next_step(info)
    if step:
        lines.append(step[0].upper() + step[1:])
    typer.echo("\n".join(lines))


@jobs_app.command("remove")
def jobs_remove(
    job: JobArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a job's journal (its output file and the local cache stay)."""
    path = _journal_path(job)
    info = _describe(path)
    if not yes and not typer.confirm(
        f"Remove job {job} ({info['total']} item(s), {info['open']} still open)?", default=False
    ):
        typer.echo("kept")
        raise typer.Exit(ExitCode.OTHER)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    typer.echo(f"removed job {job}")


def register(app: typer.Typer) -> None:
    """Register ``jditem jobs``."""
    app.add_typer(jobs_app, name="jobs")
