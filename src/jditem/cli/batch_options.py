"""The options of ``jditem batch`` (and those ``jditem export`` shares with it)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class FormatChoice(StrEnum):
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"
    xlsx = "xlsx"


FormatOption = Annotated[
    FormatChoice | None,
    typer.Option(
        "--format",
        help="Output format; default from the -o suffix (.jsonl/.ndjson/.json, .csv, "
        ".parquet/.pq, .xlsx; any other suffix needs --format). Parquet needs "
        "jditem[parquet], Excel jditem[excel].",
        show_default=False,
    ),
]
ForceOption = Annotated[
    bool,
    typer.Option("--force", help="Replace an -o file that jditem did not write."),
]
CsvBomOption = Annotated[
    bool,
    typer.Option(
        "--csv-bom", help="Start a CSV with a UTF-8 byte-order mark (Excel then reads it right)."
    ),
]
RawPayloadOption = Annotated[
    bool,
    typer.Option(
        "--raw-payload",
        help="Keep JD's raw payload in JSON Lines output (left out by default, like get --json).",
    ),
]


class TransportChoice(StrEnum):
    auto = "auto"
    httpx = "httpx"
    aiohttp = "aiohttp"


class InputFormatChoice(StrEnum):
    auto = "auto"
    lines = "lines"
    csv = "csv"
    jsonl = "jsonl"


class ProgressChoice(StrEnum):
    auto = "auto"
    bar = "bar"
    json = "json"
    none = "none"


InputArg = Annotated[
    str | None,
    typer.Argument(
        metavar="INPUT",
        help="Item ids or JD item URLs: a text file (one per line), a CSV (.csv/.tsv) or "
        "JSON Lines (.jsonl) file, or - for stdin. Optional with --resume.",
        show_default=False,
    ),
]

OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "-o",
        "--output",
        help="Output file (written under a temporary name in its directory and "
        "renamed into place when the run ends).",
        show_default=False,
    ),
]

IdColumnOpt = Annotated[
    str | None,
    typer.Option(
        "--id-column",
        help="CSV column / JSON field holding the id or URL. Default: itemId, item_id, "
        "sku, skuId, sku_id or url, else the first column.",
        show_default=False,
    ),
]

InputFormatOpt = Annotated[
    InputFormatChoice,
    typer.Option(
        "--input-format",
        help="How to read INPUT; auto = from its suffix (stdin: from its first line).",
    ),
]

ConcurrencyOpt = Annotated[
    int, typer.Option("--concurrency", min=1, max=256, help="Calls on the wire at most.")
]

RateOpt = Annotated[
    float | None,
    typer.Option(
        "--rate",
        min=0.01,
        help="Calls per second at most (smooth, adaptive). "
        "Default: unlimited until the server throttles.",
        show_default=False,
    ),
]

MaxCallsOpt = Annotated[
    int | None,
    typer.Option(
        "--max-calls",
        min=1,
        help="Stop after this many HTTP calls in this run.",
        show_default=False,
    ),
]

MaxAgeOpt = Annotated[
    str,
    typer.Option(
        "--max-age",
        help="Serve items fetched within this age from the local cache (e.g. 90s, 15m, 24h, 7d).",
    ),
]

RefreshOpt = Annotated[
    bool, typer.Option("--refresh", help="Bypass the local cache (still updates it).")
]

JobOpt = Annotated[
    str | None,
    typer.Option(
        "--job",
        help="Job name (journal under JDITEM_HOME/jobs; see jditem jobs). Default: from "
        "the input file name and path; for - from the content.",
        show_default=False,
    ),
]

ResumeOpt = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="Continue an existing job (INPUT and -o optional; ids of INPUT are added).",
    ),
]

RetryFailedOpt = Annotated[
    bool,
    typer.Option(
        "--retry-failed",
        help="Ask the server again for items that failed before (ignores the local "
        "cache's not-supported verdicts).",
    ),
]

RetryUncertainOpt = Annotated[
    bool,
    typer.Option(
        "--retry-uncertain",
        help="Ask again for items that may have been charged without an answer (sent, "
        "no complete answer, against a server that does not honour Idempotency-Key): "
        "each may be charged again.",
    ),
]

ProgressOpt = Annotated[
    ProgressChoice,
    typer.Option("--progress", help="auto = a bar on a terminal; json = a line per second."),
]

DeadlineOpt = Annotated[
    float, typer.Option("--deadline", min=0.001, help="Seconds per item at most.")
]

TransportOpt = Annotated[
    TransportChoice,
    typer.Option(
        "--transport",
        help="HTTP transport: aiohttp (pip install 'jditem[aiohttp]'; about a third of "
        "httpx's client CPU per call), httpx, or auto = aiohttp when installed.",
    ),
]


def resolve_transport(choice: TransportChoice) -> str:
    """``auto`` → ``aiohttp`` when the extra is installed, else ``httpx``."""
    if choice is not TransportChoice.auto:
        return choice.value
    from jditem.client.aiohttp_transport import aiohttp_available

    return "aiohttp" if aiohttp_available() else "httpx"
