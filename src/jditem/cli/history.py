"""``jditem history ITEM``: an item's change points as a table with a price sparkline.

The history is what the token's account received from a jditem server (SPEC §6.1):
``--json`` prints it as the API gives it; ``-o FILE`` writes it as CSV, JSON Lines or
Parquet by the file's extension (:mod:`jditem.formats.history`).
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jditem import errors
from jditem.cli.client_options import (
    AuthChoice,
    AuthOpt,
    BaseUrlOpt,
    EndpointChoice,
    InsecureOpt,
    ItemArg,
    TimeoutOpt,
    TokenOpt,
    client_options,
    item_id_arg,
)
from jditem.cli.exits import fail, usage_error
from jditem.cli.logs import VerboseOpt, enable_verbose

if TYPE_CHECKING:
    from jditem.protocol.monitoring import ChangePoint, ItemHistory

#: Columns of the sparkline.
SPARK_WIDTH = 48


def _money(value: Decimal | None) -> str:
    return f"¥{value}" if value is not None else "-"


def _price(point: ChangePoint) -> str:
    return (
        "masked"
        if point.price_masked or point.price_current is None
        else _money(point.price_current)
    )


def _stock(point: ChangePoint) -> str:
    if point.in_stock is None:
        return "unknown"
    return "in stock" if point.in_stock else "out of stock"


def _when(value: datetime) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


def sparkline_line(history: ItemHistory, *, ascii: bool = False) -> str | None:
    """``Price ▁▃█▆ low ¥x high ¥y`` over the history's span, or None when there is none."""
    from jditem.formats.sparkline import sparkline

    points = history.points
    if not points:
        return None
    end = max(points[-1].last_confirmed_at, points[-1].valid_from)
    line = sparkline(points, end, width=SPARK_WIDTH, ascii=ascii)
    prices = [p.price_current for p in points if p.price_current is not None and not p.price_masked]
    if not line.strip() or not prices:
        return None
    return f"{line}  low {_money(min(prices))}  high {_money(max(prices))}"


def print_history(history: ItemHistory, *, ascii: bool = False) -> None:
    """The points as a table (oldest first), the sparkline under it."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    if not history.points:
        console.print(
            f"No history for item {history.item_id} yet: this token's account has not "
            "received it (a successful get records it)."
        )
        return
    table = Table(title=f"History of item {history.item_id}", title_justify="left")
    for name in ("From", "Last seen", "Price", "List", "Promo", "Stock", "Promotions"):
        table.add_column(name, overflow="fold")
    for point in history.points:
        table.add_row(
            _when(point.valid_from),
            _when(point.last_confirmed_at),
            _price(point),
            _money(point.price_original),
            _money(point.price_promo),
            _stock(point),
            " | ".join(point.promotion_texts) or "-",
        )
    console.print(table)
    line = sparkline_line(history, ascii=ascii)
    if line is not None:
        console.print(f"Price {line}")
    if history.has_more:
        console.print("(older points left out: raise --limit or narrow with --since/--until)")


def history_command(
    ctx: typer.Context,
    item: ItemArg,
    since: Annotated[
        str | None,
        typer.Option("--since", help="From this time or date (ISO-8601, e.g. 2026-12-01)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Up to this time or date (ISO-8601).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, max=10_000, help="Newest points at most.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the history as JSON (as the API gives it).")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write to FILE: .csv, .jsonl or .parquet (by extension)."
        ),
    ] = None,
    ascii: Annotated[bool, typer.Option("--ascii", help="Draw the sparkline in ASCII.")] = False,
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    auth: AuthOpt = AuthChoice.query,
    timeout: TimeoutOpt = 60.0,
    verbose: VerboseOpt = False,
) -> None:
    """Show an item's price and stock history as this token's account received it (free).

    A jditem server records a change point whenever a successful call shows the item's
    price, stock, promotions, shop or title changed. Against the vendor there is no history.
    """
    from jditem.cli.config import resolve_token
    from jditem.client import Client
    from jditem.formats.history import format_for, write_history
    from jditem.formats.writers import FormatUnavailable

    enable_verbose(verbose, ctx)
    item_id = item_id_arg(item, as_json)
    if output is not None:
        try:
            format_for(output)
        except ValueError as exc:
            raise usage_error(str(exc), as_json) from None
    options = client_options(base_url, EndpointChoice.v2, insecure, auth, timeout)
    try:
        with Client(resolve_token(token), **options) as client:
            history = client.history(item_id, since=since, until=until, limit=limit)
    except errors.JditemError as error:
        raise fail(error, as_json=as_json, timeout=timeout) from None
    if output is not None:
        try:
            rows = write_history(output, history)
        except (FormatUnavailable, OSError) as exc:
            raise usage_error(f"cannot write {output}: {exc}", as_json) from None
        typer.echo(f"wrote {rows} change point(s) of item {item_id} to {output}", err=True)
        return
    if as_json:
        typer.echo(json.dumps(history.to_wire(), ensure_ascii=False, indent=2))
        return
    print_history(history, ascii=ascii)


def register(app: typer.Typer) -> None:
    """Register ``history`` on ``app``."""
    app.command("history")(history_command)
