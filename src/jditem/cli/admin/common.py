"""What every ``jditem admin`` command shares: the settings with ``--db``, one database
session per command, the two kinds of failure (exit 1, or 2 for a value to fix), money
and times as every admin listing shows them, tables and JSON lines.

Server modules are imported inside the functions, so the ``cli`` extra alone can import
this module.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from jditem.cli.exits import ExitCode
from jditem.cli.server_db import (
    DatabaseUnavailableError,
    SettingsInvalid,
    UrlOptionError,
    db_option_error,
    load_settings,
    run_with_session,
    settings_error,
)

if TYPE_CHECKING:
    from pydantic import BaseModel
    from sqlalchemy.ext.asyncio import AsyncSession

    from jditem.server.settings import Settings

T = TypeVar("T")

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON lines (one object per row) instead.")
]
DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL or SQLite path (default: JDITEM_HOME/server.db)."),
]


def fail(message: str, code: int = ExitCode.OTHER) -> typer.Exit:
    """Print ``message`` as one ``error:`` line; the exit to raise (1: not found, taken,
    database unreachable; :data:`ExitCode.USAGE` for a value the user must fix)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def usage(message: str) -> typer.Exit:
    """A usage error: one ``error:`` line, exit 2."""
    return fail(message, ExitCode.USAGE)


def _obj(ctx: typer.Context) -> dict[str, Any]:
    """What the ``admin`` group keeps for its subcommands (click passes ``obj`` down)."""
    return ctx.obj if isinstance(ctx.obj, dict) else {}


def settings(ctx: typer.Context) -> Settings:
    """Settings with ``--db``; a bad database URL or setting is one ``error:`` line, exit 2."""
    db = _obj(ctx).get("db")
    try:
        return load_settings(db if isinstance(db, str) else None)
    except UrlOptionError as exc:
        raise db_option_error(exc) from None
    except SettingsInvalid as exc:
        raise usage(settings_error(exc)) from None


def run(ctx: typer.Context, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """``fn(session)`` on the database; the service's refusals become ``error:`` lines."""
    from jditem.server.accounts.service import AdminError, InvalidInputError

    chosen = settings(ctx)
    try:
        return run_with_session(chosen, fn)
    except InvalidInputError as exc:
        raise usage(str(exc)) from None
    except (AdminError, DatabaseUnavailableError) as exc:
        raise fail(str(exc)) from None


def to_units(yuan: str, what: str) -> int:
    """Decimal yuan (``12.50``) as units of 0.0001 CNY; a bad amount is a usage error."""
    from jditem.server.accounts.money import yuan_to_units

    try:
        return yuan_to_units(yuan)
    except ValueError as exc:
        raise usage(f"{what}: {exc}") from None


def optional(text: str | None, parse: Callable[[str], Any], what: str) -> Any:
    """``none`` clears a limit; otherwise ``parse(text)``."""
    if text is None or text.strip().lower() in ("none", "null", "-"):
        return None
    try:
        return parse(text)
    except ValueError:
        raise usage(f"{what}: not a valid value: {text!r} (use 'none' to clear)") from None


def as_yuan(amount_units: int | None) -> str:
    """Units as decimal yuan; ``-`` for none."""
    from jditem.server.accounts.money import units_to_yuan

    return "-" if amount_units is None else units_to_yuan(amount_units)


def _timezone(ctx: typer.Context) -> str:
    """The server's time zone (``JDITEM_TIMEZONE``), read once per command."""
    zone = _obj(ctx).get("timezone")
    if not isinstance(zone, str):
        zone = settings(ctx).timezone
        if isinstance(ctx.obj, dict):
            ctx.obj["timezone"] = zone
    return zone


def local_time(ctx: typer.Context, value: datetime | None) -> str:
    """``value`` as ISO-8601 with offset in the server's zone, as every admin listing and
    JSON output shows times (naive database times are UTC); ``-`` for none."""
    from jditem.server.clock import iso_local

    return "-" if value is None else iso_local(value, _timezone(ctx), "seconds")


def print_json_lines(ctx: typer.Context, rows: Sequence[BaseModel]) -> None:
    """``--json``: one JSON object per row (fields as stored: money in units), times as
    ISO-8601 with offset in the server's zone."""
    for row in rows:
        fields = {
            key: local_time(ctx, value) if isinstance(value, datetime) else value
            for key, value in row.model_dump().items()
        }
        typer.echo(json.dumps(fields, ensure_ascii=False, separators=(",", ":")))


def print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """A rich table; ids and prefixes stay whole (they are typed back), the rest may wrap."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for index, column in enumerate(columns):
        table.add_column(column, no_wrap=index < 2, overflow="fold")
    for row in rows:
        table.add_row(*row)
    # Piped output is not squeezed to 80 columns: ids, prefixes and amounts stay whole.
    Console(width=None if sys.stdout.isatty() else 200).print(table)
