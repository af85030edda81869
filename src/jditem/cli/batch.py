"""``jditem batch``: resumable batch fetching (its input: :mod:`.batch_input`).

The heavy lifting is in :mod:`jditem.batch`; this module turns options into objects,
prints what happened and how to continue, and maps the ending to an exit code (those
of ``jditem get``, plus 1 when items failed or are left to do, 130 on Ctrl-C).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from jditem import errors
from jditem.cli.batch_input import (
    BatchInput,
    check_input,
    default_job_name,
    load_input,
    read_input,
)
from jditem.cli.batch_options import (
    ConcurrencyOpt,
    CsvBomOption,
    DeadlineOpt,
    ForceOption,
    FormatOption,
    IdColumnOpt,
    InputArg,
    InputFormatChoice,
    InputFormatOpt,
    JobOpt,
    MaxAgeOpt,
    MaxCallsOpt,
    OutputOpt,
    ProgressChoice,
    ProgressOpt,
    RateOpt,
    RawPayloadOption,
    RefreshOpt,
    ResumeOpt,
    RetryFailedOpt,
    RetryUncertainOpt,
    TransportChoice,
    TransportOpt,
    resolve_transport,
)
from jditem.cli.batch_run import batch_exit_code, run_interruptibly
from jditem.cli.client_options import (
    AuthChoice,
    AuthOpt,
    BaseUrlOpt,
    EndpointChoice,
    EndpointOpt,
    InsecureOpt,
    TimeoutOpt,
    TokenOpt,
)
from jditem.cli.exits import ExitCode, cli_message, exit_code_for, usage_error
from jditem.cli.logs import VerboseOpt, enable_verbose

if TYPE_CHECKING:
    import httpx

    from jditem.batch.journal import Journal
    from jditem.formats.items import InputFormat


def _err(message: str) -> None:
    typer.echo(message, err=True)


def batch_command(
    ctx: typer.Context,
    input_path: InputArg = None,
    output: OutputOpt = None,
    fmt: FormatOption = None,
    id_column: IdColumnOpt = None,
    input_format: InputFormatOpt = InputFormatChoice.auto,
    concurrency: ConcurrencyOpt = 8,
    rate: RateOpt = None,
    max_calls: MaxCallsOpt = None,
    max_age: MaxAgeOpt = "24h",
    refresh: RefreshOpt = False,
    job: JobOpt = None,
    resume: ResumeOpt = False,
    retry_failed: RetryFailedOpt = False,
    retry_uncertain: RetryUncertainOpt = False,
    progress: ProgressOpt = ProgressChoice.auto,
    deadline: DeadlineOpt = 900.0,
    timeout: TimeoutOpt = 120.0,
    transport: TransportOpt = TransportChoice.auto,
    force: ForceOption = False,
    csv_bom: CsvBomOption = False,
    raw_payload: RawPayloadOption = False,
    base_url: BaseUrlOpt = None,
    endpoint: EndpointOpt = EndpointChoice.v2,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    auth: AuthOpt = AuthChoice.query,
    verbose: VerboseOpt = False,
) -> None:
    """Fetch many items: resumable, rate-adaptive, cached, with progress and exports.

    Re-running the same command continues its job. When INPUT changed since the job's
    last run, the job starts afresh (products fetched within --max-age come from the
    local cache at no charge); --resume adds INPUT's ids to the old job instead.
    """
    from jditem.batch.export import ExportError, guess_format
    from jditem.batch.job import parse_duration
    from jditem.batch.job_files import (
        JournalError,
        default_home,
        job_wrote,
        journal_path,
        open_journal,
    )
    from jditem.batch.outputs import OutputRefused, OutputRegistry
    from jditem.cli.config import resolve_base_url, resolve_token
    from jditem.formats.items import InputError, detect_format

    enable_verbose(verbose, ctx)
    try:
        max_age_s = parse_duration(max_age)
        resolved_token = resolve_token(token)
        resolved_base_url = resolve_base_url(base_url)
    except (ValueError, errors.ConfigurationError) as exc:
        raise usage_error(str(exc)) from None
    if input_path is None and not resume:
        raise usage_error("pass an INPUT file (or - for stdin), or --job NAME --resume")
    if job is None and input_path is None:
        raise usage_error(
            "--resume without INPUT needs --job NAME (list the jobs with: jditem jobs)"
        )
    if input_path is not None:
        check_input(input_path)
    home = default_home()
    if job is not None:
        try:
            path = journal_path(home, job)
        except JournalError as exc:
            raise usage_error(str(exc)) from None
        if resume and not path.exists():
            raise usage_error(
                f"no job named {job} under {home / 'jobs'}; list the jobs with: jditem jobs "
                "(or run without --resume to start it)"
            )
    if output is not None:
        named = job or (default_job_name(input_path) if input_path not in (None, "-") else None)
        try:
            guess_format(output, fmt.value if fmt else None)
            with OutputRegistry.in_home(home) as registry:
                registry.check(output, force=force or job_wrote(home, named, output))
        except (ExportError, OutputRefused) as exc:
            raise usage_error(str(exc)) from None

    source = read_input(input_path) if input_path is not None else None
    try:
        parse_format: InputFormat | None = None
        if source is not None:
            try:
                explicit = None if input_format is InputFormatChoice.auto else input_format.value
                name = "" if source.name == "-" else source.name
                parse_format = detect_format(name, source.first_line(), explicit)
                if parse_format == "lines" and id_column is not None:
                    raise InputError(
                        "--id-column needs a CSV or JSON Lines input (name it .csv / .jsonl, "
                        "or pass --input-format csv|jsonl)"
                    )
            except InputError as exc:
                raise usage_error(str(exc)) from None
            if job is None:
                job = default_job_name(source.name, source.digest)
        assert job is not None
        try:
            path = journal_path(home, job)
        except JournalError as exc:
            raise usage_error(str(exc)) from None
        opened = open_journal(path, input_digest=source.digest if source else None, resume=resume)
        if opened.restarted:
            _err(
                f"note: {'stdin' if input_path == '-' else input_path} changed since job {job} "
                "last ran: starting the job afresh (items fetched within --max-age come from "
                "the local cache at no charge); to add to the old job instead, run with --resume"
            )
        journal = opened.journal
        try:
            _batch(
                journal,
                job=job,
                home=home,
                source=source,
                parse_format=parse_format,
                id_column=id_column,
                created=opened.created,
                output=output,
                fmt=fmt.value if fmt else None,
                concurrency=concurrency,
                rate=rate,
                max_calls=max_calls,
                max_age_s=max_age_s,
                refresh=refresh,
                retry_failed=retry_failed,
                retry_uncertain=retry_uncertain,
                progress=progress.value,
                deadline=deadline,
                force=force,
                csv_bom=csv_bom,
                raw_payload=raw_payload,
                transport=resolve_transport(transport),
                client_options={
                    "base_url": resolved_base_url or journal.get_meta("base_url"),
                    "endpoint": endpoint.value,
                    "allow_insecure_http": insecure,
                    "auth": auth.value,
                    "read_timeout": timeout,
                },
                token=resolved_token,
            )
        finally:
            journal.close()
    finally:
        if source is not None:
            source.close()


def _batch(
    journal: Journal,
    *,
    job: str,
    home: Path,
    source: BatchInput | None,
    parse_format: InputFormat | None,
    id_column: str | None,
    created: bool,
    output: Path | None,
    fmt: str | None,
    concurrency: int,
    rate: float | None,
    max_calls: int | None,
    max_age_s: float,
    refresh: bool,
    retry_failed: bool,
    retry_uncertain: bool,
    progress: str,
    deadline: float,
    force: bool,
    csv_bom: bool,
    raw_payload: bool,
    transport: str,
    client_options: dict[str, Any],
    token: str | None,
) -> None:
    import httpx

    from jditem.batch.cache import ResultCache
    from jditem.batch.engine import BatchRun
    from jditem.batch.export import ExportError, guess_format, open_writer
    from jditem.batch.job_files import remove_journal
    from jditem.batch.outputs import OutputRefused, OutputRegistry
    from jditem.batch.progress import make_progress
    from jditem.batch.summary import render_summary
    from jditem.client import AsyncClient
    from jditem.formats.items import InputError
    from jditem.formats.xlsx import TooManyRows

    def give_up(message: str, code: int = ExitCode.USAGE) -> typer.Exit:
        """Fail before anything was fetched; a journal this run created is removed."""
        if created:
            journal.close()
            remove_journal(journal.path)
        _err(f"Error: {message}")
        return typer.Exit(code)

    if output is None:
        stored = journal.get_meta("output")
        if stored is None:
            raise give_up("pass -o OUT (where to write the products)")
        output = Path(stored)
        fmt = fmt or journal.get_meta("format")
    try:
        out_format = guess_format(output, fmt)
        raw_payload = raw_payload or journal.get_meta("raw_payload") == "1"
    except ExportError as exc:
        raise give_up(str(exc)) from None

    http: httpx.AsyncClient | None = None
    try:
        if transport == "aiohttp":
            from jditem.client.aiohttp_transport import aiohttp_http_client

            http = aiohttp_http_client(
                timeout=httpx.Timeout(client_options["read_timeout"], connect=10.0)
            )
        client = AsyncClient(token, deadline=deadline, http_client=http, **client_options)
    except errors.JditemError as exc:
        raise give_up(cli_message(exc), exit_code_for(exc)) from None

    if source is not None:
        try:
            problem = load_input(
                journal,
                source,
                parse_format or "lines",
                id_column=id_column,
                job=job,
                created=created,
            )
        except InputError as exc:
            raise give_up(str(exc)) from None
        if problem is not None:
            raise give_up(problem)
    ours = journal.get_meta("output") == str(output.expanduser().resolve())
    journal.set_meta(
        output=str(output.expanduser().resolve()),
        format=out_format,
        base_url=client.config.base_url,
        endpoint=client.config.endpoint,
        raw_payload="1" if raw_payload else "0",
        **({"input": source.name, "input_digest": source.digest} if source is not None else {}),
    )

    try:
        with OutputRegistry.in_home(home) as registry:
            registry.check(output, force=force or ours)
            writer = open_writer(output, out_format, raw=raw_payload, bom=csv_bom)
    except (ExportError, OutputRefused) as exc:
        raise usage_error(str(exc)) from None
    cache = ResultCache.in_home(home, origin=client.config.url)
    if retry_failed:
        cache.forget_not_supported(journal.failed_ids())
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
        report = asyncio.run(
            run_interruptibly(
                run, client, journal, writer, display, http, retry_failed, retry_uncertain
            )
        )
    except TooManyRows as exc:
        writer.abandon()
        _err(f"Error: {exc} (every product is in the job's journal)")
        raise typer.Exit(ExitCode.OTHER) from None
    except BaseException:
        writer.abandon()
        raise
    finally:
        cache.close()
    # a run that stopped before writing a product leaves an existing file as it was
    try:
        report.output_written = writer.close(keep_empty=report.complete)
    except ExportError as exc:
        raise usage_error(str(exc)) from None
    if report.output_written:
        with OutputRegistry.in_home(home) as registry:
            registry.record(output, job)
    if report.mismatches:
        examples = ", ".join(f"asked {a} got {b}" for a, b in writer.examples)
        _err(
            f"warning: {report.mismatches} product(s) carry an id other than the one asked for "
            f"({examples}); they are flagged in the id_mismatch column"
        )
    from jditem.cli.config import display_zone

    typer.echo(render_summary(report, output=output, job=job, tz=display_zone()))
    raise typer.Exit(batch_exit_code(report))


def register(app: typer.Typer) -> None:
    """Register ``batch`` on ``app``."""
    app.command("batch")(batch_command)
