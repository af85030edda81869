"""``jditem batch`` (resumable batch fetching) and ``jditem export`` (re-export a journal).

The heavy lifting is in :mod:`jditem.batch`; this module turns options into objects,
prints what happened and how to continue, and maps the ending to an exit code (those
of ``jditem get``, plus 1 when items failed or are left to do, 130 on Ctrl-C).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from jditem import errors
from jditem.cli.get import (
    AuthChoice,
    AuthOpt,
    BaseUrlOpt,
    EndpointChoice,
    EndpointOpt,
    ExitCode,
    InsecureOpt,
    TokenOpt,
    exit_code_for,
)

if TYPE_CHECKING:
    from jditem.batch.engine import BatchRun
    from jditem.batch.export import Writer
    from jditem.batch.job import JobReport
    from jditem.batch.journal import Journal
    from jditem.batch.progress import ProgressDisplay

INTERRUPTED = 130
MAX_INVALID_SHOWN = 20


class FormatChoice(StrEnum):
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


FormatOption = Annotated[
    FormatChoice | None,
    typer.Option(
        "--format",
        help="Output format; default from the file suffix, else jsonl.",
        show_default=False,
    ),
]


class ProgressChoice(StrEnum):
    auto = "auto"
    bar = "bar"
    json = "json"
    none = "none"


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _usage(message: str) -> typer.Exit:
    _err(f"Error: {message}")
    return typer.Exit(ExitCode.USAGE)


def default_job_name(input_path: str) -> str:
    """``<input stem>-<hash of its absolute path>``, or ``stdin`` for ``-``."""
    if input_path == "-":
        return "stdin"
    path = Path(input_path).expanduser().resolve()
    stem = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in path.stem)[:60] or "job"
    if not stem[0].isalnum():
        stem = "job" + stem
    digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{stem}-{digest}"


@contextmanager
def _open_input(input_path: str) -> Iterator[TextIO]:
    if input_path == "-":
        yield sys.stdin
        return
    try:
        with Path(input_path).expanduser().open(encoding="utf-8", errors="replace") as handle:
            yield handle
    except FileNotFoundError:
        raise _usage(
            f"input file {input_path} does not exist; pass a file or - for stdin"
        ) from None


def resume_command(job: str) -> str:
    """The command that continues ``job`` (settings come from its journal)."""
    return f"jditem batch --job {job} --resume"


def batch_command(
    input_path: Annotated[
        str | None,
        typer.Argument(
            metavar="INPUT",
            help="File with one item id or JD item URL per line, or - for stdin. "
            "Optional with --resume.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Output file (written as results arrive).", show_default=False
        ),
    ] = None,
    fmt: FormatOption = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=256, help="Calls on the wire at most.")
    ] = 8,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate",
            min=0.01,
            help="Calls per second at most (smooth, adaptive). "
            "Default: unlimited until the server throttles.",
            show_default=False,
        ),
    ] = None,
    max_calls: Annotated[
        int | None,
        typer.Option(
            "--max-calls",
            min=1,
            help="Stop after this many HTTP calls in this run.",
            show_default=False,
        ),
    ] = None,
    max_age: Annotated[
        str,
        typer.Option(
            "--max-age",
            help="Serve items fetched within this age from the "
            "local cache (e.g. 90s, 15m, 24h, 7d).",
        ),
    ] = "24h",
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Bypass the local cache (still updates it).")
    ] = False,
    job: Annotated[
        str | None,
        typer.Option(
            "--job",
            help="Job name (journal under JDITEM_HOME/jobs). Default: from "
            "the input file name and path; 'stdin' for -.",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an existing job (INPUT and -o optional).")
    ] = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Ask again for items that failed before.")
    ] = False,
    progress: Annotated[
        ProgressChoice,
        typer.Option("--progress", help="auto = a bar on a terminal; json = a line per second."),
    ] = ProgressChoice.auto,
    deadline: Annotated[
        float, typer.Option("--deadline", min=0.001, help="Seconds per item at most.")
    ] = 900.0,
    base_url: BaseUrlOpt = None,
    endpoint: EndpointOpt = EndpointChoice.v2,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    auth: AuthOpt = AuthChoice.query,
) -> None:
    """Fetch many items: resumable, rate-adaptive, cached, with progress and exports."""
    from jditem.batch.job import default_home, parse_duration
    from jditem.batch.journal import Journal, JournalError, journal_path

    try:
        max_age_s = parse_duration(max_age)
    except ValueError as exc:
        raise _usage(str(exc)) from None
    if input_path is None and not resume:
        raise _usage("pass an INPUT file (or - for stdin), or --job NAME --resume")
    if job is None:
        if input_path is None:
            raise _usage(
                "--resume without INPUT needs --job NAME (see the journal names "
                "under JDITEM_HOME/jobs)"
            )
        job = default_job_name(input_path)
    home = default_home()
    try:
        path = journal_path(home, job)
    except JournalError as exc:
        raise _usage(str(exc)) from None
    if resume and not path.exists():
        raise _usage(f"no job named {job} under {home / 'jobs'}; run without --resume to start it")
    journal = Journal(path)
    try:
        _batch(
            journal,
            job=job,
            home=home,
            input_path=input_path,
            output=output,
            fmt=fmt.value if fmt else None,
            concurrency=concurrency,
            rate=rate,
            max_calls=max_calls,
            max_age_s=max_age_s,
            refresh=refresh,
            retry_failed=retry_failed,
            progress=progress.value,
            deadline=deadline,
            client_options={
                "base_url": base_url or journal.get_meta("base_url"),
                "endpoint": endpoint.value,
                "allow_insecure_http": insecure,
                "auth": auth.value,
            },
            token=token,
        )
    finally:
        journal.close()


def _batch(
    journal: Journal,
    *,
    job: str,
    home: Path,
    input_path: str | None,
    output: Path | None,
    fmt: str | None,
    concurrency: int,
    rate: float | None,
    max_calls: int | None,
    max_age_s: float,
    refresh: bool,
    retry_failed: bool,
    progress: str,
    deadline: float,
    client_options: dict[str, Any],
    token: str | None,
) -> None:
    from jditem.batch.cache import ResultCache
    from jditem.batch.engine import BatchRun
    from jditem.batch.export import ExportError, guess_format, open_writer
    from jditem.batch.inputs import InvalidLine, parse_lines
    from jditem.batch.progress import make_progress
    from jditem.batch.summary import render_summary
    from jditem.client import AsyncClient

    if output is None:
        stored = journal.get_meta("output")
        if stored is None:
            raise _usage("pass -o OUT (where to write the products)")
        output = Path(stored)
        fmt = fmt or journal.get_meta("format")
    out_format = guess_format(output, fmt)

    try:
        client = AsyncClient(token, deadline=deadline, **client_options)
    except errors.JditemError as exc:
        _err(f"Error: {exc}")
        raise typer.Exit(exit_code_for(exc)) from None

    if input_path is not None:
        shown = 0

        def on_invalid(line: InvalidLine) -> None:
            nonlocal shown
            shown += 1
            if shown <= MAX_INVALID_SHOWN:
                _err(f"warning: {line.message}")

        with _open_input(input_path) as handle:
            loaded = journal.load(parse_lines(handle), on_invalid=on_invalid)
        if loaded.invalid > MAX_INVALID_SHOWN:
            _err(
                f"warning: … and {loaded.invalid - MAX_INVALID_SHOWN} more invalid lines "
                f"(all kept in the journal's rejects table)"
            )
        if loaded.duplicates:
            _err(f"note: {loaded.duplicates} id(s) repeated or already in job {job} (collapsed)")
    journal.set_meta(
        output=str(output.expanduser().resolve()),
        format=out_format,
        base_url=client.config.base_url,
        endpoint=client.config.endpoint,
        **({"input": input_path} if input_path is not None else {}),
    )

    try:
        writer = open_writer(output, out_format)
    except ExportError as exc:
        raise _usage(str(exc)) from None
    cache = ResultCache.in_home(home, origin=client.config.url)
    run = BatchRun(
        client,
        concurrency=concurrency,
        rate=rate,
        journal=journal,
        cache=cache,
        max_age=max_age_s,
        refresh=refresh,
        max_calls=max_calls,
        deadline=deadline,
    )
    display = make_progress(progress, run.stats)
    try:
        report = asyncio.run(_run(run, journal, writer, retry_failed, display))
    finally:
        writer.close()
        cache.close()
    typer.echo(render_summary(report, output=output, job=job))
    raise typer.Exit(_exit_code(report))


async def _run(
    run: BatchRun, journal: Journal, writer: Writer, retry_failed: bool, display: ProgressDisplay
) -> JobReport:
    from jditem.batch.job import run_job

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    presses = 0

    def on_signal() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            run.request_stop("interrupted")
            _err(
                "\nStopping: no new calls; waiting for the calls on the wire "
                "(Ctrl-C again to abandon them)…"
            )
        elif task is not None:
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # non-Unix loops
            loop.add_signal_handler(sig, on_signal)
    try:
        async with run.client:
            report = await run_job(run, journal, writer, retry_failed=retry_failed, display=display)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if presses:
        report.interrupted = True
    return report


def _exit_code(report: JobReport) -> int:
    if report.fatal is not None:
        return exit_code_for(report.fatal)
    if report.interrupted:
        return INTERRUPTED
    if report.counts.get("failed", 0) or not report.complete:
        return ExitCode.OTHER
    return ExitCode.OK


def export_command(
    job: Annotated[str, typer.Argument(metavar="JOB", help="Job name (see JDITEM_HOME/jobs).")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="File to write.", show_default=False)
    ],
    fmt: FormatOption = None,
) -> None:
    """Write the products a job's journal holds to a file (no HTTP call)."""
    from jditem.batch.export import ExportError, guess_format, open_writer
    from jditem.batch.job import default_home
    from jditem.batch.journal import Journal, JournalError, journal_path

    home = default_home()
    try:
        path = journal_path(home, job)
    except JournalError as exc:
        raise _usage(str(exc)) from None
    if not path.exists():
        raise _usage(f"no job named {job} under {home / 'jobs'}; list them with ls")
    with Journal(path) as journal:
        try:
            writer = open_writer(output, guess_format(output, fmt.value if fmt else None))
        except ExportError as exc:
            raise _usage(str(exc)) from None
        count = 0
        try:
            for product_json in journal.iter_products():
                writer.write(product_json)
                count += 1
        finally:
            writer.close()
        counts = journal.counts()
    typer.echo(f"exported {count} product(s) of job {job} to {output}")
    left = counts["todo"] + counts["inflight"] + counts["pending"]
    if left or counts["failed"]:
        typer.echo(
            f"note: {left} item(s) not fetched yet, {counts['failed']} failed; "
            f"continue with: {resume_command(job)}"
        )


def register(app: typer.Typer) -> None:
    """Register ``batch`` and ``export`` on ``app``."""
    app.command("batch")(batch_command)
    app.command("export")(export_command)
