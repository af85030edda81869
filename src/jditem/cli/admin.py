"""``jditem admin``: accounts, tokens, top-ups and the ledger, straight on the database
(account members and their caps: :mod:`.admin_members`).

Amounts are decimal yuan strings (``12.50``), converted exactly to units of 0.0001 CNY.
``token create`` prints the new token alone on the last line of stdout.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from jditem.cli import prune
from jditem.cli.options import OptionAnywhereGroup
from jditem.cli.serve import DatabaseUnavailableError, run_with_session
from jditem.cli.server_settings import (
    SettingsInvalid,
    UrlOptionError,
    db_option_error,
    load_settings,
    settings_error,
)

if TYPE_CHECKING:
    from pydantic import BaseModel
    from sqlalchemy.ext.asyncio import AsyncSession

    from jditem.server.settings import Settings

T = TypeVar("T")

# ``--db`` may also follow the subcommand: ``jditem admin token list --db URL``.
admin_app = typer.Typer(
    cls=OptionAnywhereGroup,
    help="Manage accounts, tokens and balances.",
    no_args_is_help=True,
)
account_app = typer.Typer(help="Accounts (a balance shared by their tokens).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (shown once at creation).", no_args_is_help=True)
balance_app = typer.Typer(
    help="Account balances: without a subcommand, every account's balance.",
    invoke_without_command=True,
)
admin_app.add_typer(account_app, name="account")
admin_app.add_typer(token_app, name="token")
admin_app.add_typer(balance_app, name="balance")

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON lines (one object per row) instead.")
]
DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL or SQLite path (default: JDITEM_HOME/server.db)."),
]


@admin_app.callback()
def _admin(ctx: typer.Context, db: DbOption = None) -> None:
    """Manage accounts, tokens and balances."""
    ctx.obj = {"db": db}


def _db(ctx: typer.Context) -> str | None:
    """``--db`` given to ``jditem admin`` (click passes ``obj`` down to subcommands)."""
    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    value = obj.get("db")
    return value if isinstance(value, str) else None


#: Exit status of a usage error: a malformed or out-of-range value (README: exit codes).
USAGE = 2


def _fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as one ``error:`` line; the exit to raise (1: not found, taken,
    database unreachable; :data:`USAGE` for a value the user must fix)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _usage(message: str) -> typer.Exit:
    """A usage error: one ``error:`` line, exit 2."""
    return _fail(message, USAGE)


def _settings(ctx: typer.Context) -> Settings:
    """Settings with ``--db``; a bad database URL or setting is one ``error:`` line, exit 2."""
    try:
        return load_settings(_db(ctx))
    except UrlOptionError as exc:
        raise db_option_error(exc) from None
    except SettingsInvalid as exc:
        raise _usage(settings_error(exc)) from None


def _run(ctx: typer.Context, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from jditem.server.accounts.service import AdminError, InvalidInputError

    settings = _settings(ctx)
    try:
        return run_with_session(settings, fn)
    except InvalidInputError as exc:
        raise _usage(str(exc)) from None
    except (AdminError, DatabaseUnavailableError) as exc:
        raise _fail(str(exc)) from None


def _units(yuan: str, what: str) -> int:
    from jditem.server.accounts.money import yuan_to_units

    try:
        return yuan_to_units(yuan)
    except ValueError as exc:
        raise _usage(f"{what}: {exc}") from None


def _optional(text: str | None, parse: Callable[[str], Any], what: str) -> Any:
    """``none`` clears a limit; otherwise ``parse(text)``."""
    if text is None or text.strip().lower() in ("none", "null", "-"):
        return None
    try:
        return parse(text)
    except ValueError:
        raise _usage(f"{what}: not a valid value: {text!r} (use 'none' to clear)") from None


def _yuan(units: int | None) -> str:
    from jditem.server.accounts.money import units_to_yuan

    return "-" if units is None else units_to_yuan(units)


def _timezone(ctx: typer.Context) -> str:
    """The server's time zone (``JDITEM_TIMEZONE``), read once per command."""
    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    zone = obj.get("timezone")
    if not isinstance(zone, str):
        zone = _settings(ctx).timezone
        if isinstance(ctx.obj, dict):
            ctx.obj["timezone"] = zone
    return zone


def _local_time(ctx: typer.Context, value: datetime | None) -> str:
    """``value`` as ISO-8601 with offset in the server's zone, as every admin listing and
    JSON output shows times (naive database times are UTC); ``-`` for none."""
    from jditem.server.clock import iso_local

    return "-" if value is None else iso_local(value, _timezone(ctx), "seconds")


def _print_json_lines(ctx: typer.Context, rows: Sequence[BaseModel]) -> None:
    """``--json``: one JSON object per row (fields as stored: money in units), times as
    ISO-8601 with offset in the server's zone."""
    for row in rows:
        fields = {
            key: _local_time(ctx, value) if isinstance(value, datetime) else value
            for key, value in row.model_dump().items()
        }
        typer.echo(json.dumps(fields, ensure_ascii=False, separators=(",", ":")))


def _print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for index, column in enumerate(columns):
        # Ids and prefixes must stay whole (they are typed back); the rest may wrap.
        table.add_column(column, no_wrap=index < 2, overflow="fold")
    for row in rows:
        table.add_row(*row)
    # Piped output is not squeezed to 80 columns: ids, prefixes and amounts stay whole.
    Console(width=None if sys.stdout.isatty() else 200).print(table)


# ---------------------------------------------------------------- accounts


@account_app.command("create")
def account_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Account name.")],
    balance: Annotated[str, typer.Option(help="Opening balance in yuan, e.g. 100.")] = "0",
) -> None:
    """Create an account with an opening balance."""
    from jditem.server.accounts import service

    units = _units(balance, "--balance")
    account = _run(ctx, lambda s: service.create_account(s, name, units))
    typer.echo(f"created account {account.name!r} with balance {account.balance_yuan} yuan")


@account_app.command("rename")
def account_rename(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The current name, exactly as listed.")],
    new_name: Annotated[str, typer.Argument(help="The new name.")],
) -> None:
    """Rename an account (also one whose name an older version accepted and the admin API
    cannot address, such as a name with '/')."""
    from jditem.server.accounts import service

    account = _run(ctx, lambda s: service.rename_account(s, name, new_name))
    typer.echo(f"renamed account {name!r} to {account.name!r}")


@account_app.command("list")
def account_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List accounts and balances."""
    from jditem.server.accounts import service

    accounts = _run(ctx, service.list_accounts)
    if as_json:
        _print_json_lines(ctx, accounts)
        return
    _print_table(
        "Accounts",
        ["id", "name", "balance (yuan)", "created"],
        [[str(a.id), a.name, a.balance_yuan, _local_time(ctx, a.created_at)] for a in accounts],
    )


# ------------------------------------------------------------------ tokens


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    account: Annotated[str, typer.Option(help="Account the token spends from.")],
    name: Annotated[str, typer.Option(help="A label for the token.")] = "",
    budget: Annotated[
        str | None, typer.Option(help="Cumulative spend cap in yuan (default none).")
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(help="Requests per second (default: JDITEM_DEFAULT_RATE_LIMIT)."),
    ] = None,
    burst: Annotated[int | None, typer.Option(help="Burst size (default: server default).")] = None,
    daily_quota: Annotated[
        int | None, typer.Option(help="Admitted calls per local day (default none).")
    ] = None,
    unlimited: Annotated[
        bool, typer.Option("--unlimited", help="No rate limit (ignores the default).")
    ] = False,
    permission: Annotated[
        list[str] | None,
        typer.Option(help="Endpoint the token may call (repeatable; default the v2 endpoint)."),
    ] = None,
) -> None:
    """Create a token; the raw token is printed once, alone on the last line."""
    from jditem.server.accounts import service

    settings = _settings(ctx)
    budget_units = _units(budget, "--budget") if budget is not None else None
    rate_limit = None if unlimited else (rate if rate is not None else settings.default_rate_limit)
    burst_size = None if unlimited else (burst if burst is not None else settings.default_burst)
    quota = daily_quota if daily_quota is not None else settings.default_daily_quota
    public, raw = _run(
        ctx,
        lambda s: service.create_token(
            s,
            account,
            name=name,
            budget_units=budget_units,
            rate_limit=rate_limit,
            burst=burst_size,
            daily_quota=quota,
            permissions=permission or None,
        ),
    )
    typer.echo(
        f"created token {public.prefix}... (id {public.id}) for account {public.account!r}; "
        "it is shown only once, store it now:"
    )
    typer.echo(raw)


@token_app.command("list")
def token_list(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="Only this account's tokens.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List tokens (prefix, limits, spend, last use); never the secret."""
    from jditem.server.accounts import service

    tokens = _run(ctx, lambda s: service.list_tokens(s, account))
    if as_json:
        _print_json_lines(ctx, tokens)
        return
    _print_table(
        "Tokens",
        [
            "id",
            "prefix",
            "account",
            "name",
            "enabled",
            "rate/s",
            "burst",
            "quota",
            "budget",
            "spent",
            "permissions",
            "last used",
        ],
        [
            [
                str(t.id),
                t.prefix,
                t.account,
                t.name,
                "yes" if t.enabled else "no",
                "-" if t.rate_limit is None else f"{t.rate_limit:g}",
                "-" if t.burst is None else str(t.burst),
                "-" if t.daily_quota is None else str(t.daily_quota),
                _yuan(t.budget_units),
                _yuan(t.spent_units),
                ", ".join(t.permissions) or "-",
                _local_time(ctx, t.last_used_at),
            ]
            for t in tokens
        ],
    )


@token_app.command("disable")
def token_disable(
    ctx: typer.Context, ref: Annotated[str, typer.Argument(help="Token id or prefix.")]
) -> None:
    """Disable a token: its calls answer code 100."""
    from jditem.server.accounts import service

    token = _run(ctx, lambda s: service.set_token_enabled(s, ref, False))
    typer.echo(f"disabled token {token.prefix}... (id {token.id})")


@token_app.command("enable")
def token_enable(
    ctx: typer.Context, ref: Annotated[str, typer.Argument(help="Token id or prefix.")]
) -> None:
    """Enable a token again."""
    from jditem.server.accounts import service

    token = _run(ctx, lambda s: service.set_token_enabled(s, ref, True))
    typer.echo(f"enabled token {token.prefix}... (id {token.id})")


@token_app.command("update")
def token_update(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Token id or prefix.")],
    name: Annotated[str | None, typer.Option(help="New label.")] = None,
    budget: Annotated[str | None, typer.Option(help="Budget in yuan, or 'none'.")] = None,
    rate: Annotated[str | None, typer.Option(help="Requests/second, or 'none'.")] = None,
    burst: Annotated[str | None, typer.Option(help="Burst size, or 'none'.")] = None,
    daily_quota: Annotated[str | None, typer.Option(help="Calls per day, or 'none'.")] = None,
) -> None:
    """Change a token's label, budget or limits (only the options given)."""
    from jditem.server.accounts import service
    from jditem.server.accounts.money import yuan_to_units

    fields: dict[str, Any] = {}
    if name is not None:
        fields["name"] = name
    if budget is not None:
        fields["budget_units"] = _optional(budget, yuan_to_units, "--budget")
    if rate is not None:
        fields["rate_limit"] = _optional(rate, float, "--rate")
    if burst is not None:
        fields["burst"] = _optional(burst, int, "--burst")
    if daily_quota is not None:
        fields["daily_quota"] = _optional(daily_quota, int, "--daily-quota")
    if not fields:
        raise _usage("nothing to change: pass --name, --budget, --rate, --burst or --daily-quota")
    token = _run(ctx, lambda s: service.update_token(s, ref, **fields))
    typer.echo(f"updated token {token.prefix}... (id {token.id})")


# ----------------------------------------------------------- balance, ledger


@balance_app.callback()
def balance_show(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
) -> None:
    """Show account balances (and each account's tokens' spend)."""
    if ctx.invoked_subcommand is not None:
        return
    from jditem.server.accounts import service

    accounts = _run(ctx, service.list_accounts)
    tokens = _run(ctx, lambda s: service.list_tokens(s, None))
    chosen = [a for a in accounts if account is None or a.name == account]
    if account is not None and not chosen:
        raise _fail(f"no account named {account!r}; see: jditem admin account list")
    spent: dict[str, int] = {}
    for t in tokens:
        spent[t.account] = spent.get(t.account, 0) + (t.spent_units or 0)
    _print_table(
        "Balances",
        ["account", "balance (yuan)", "spent by its tokens (yuan)", "tokens"],
        [
            [
                a.name,
                a.balance_yuan,
                _yuan(spent.get(a.name, 0)),
                str(sum(1 for t in tokens if t.account == a.name)),
            ]
            for a in chosen
        ],
    )


@balance_app.command("topup")
def balance_topup(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Account name.")],
    yuan: Annotated[str, typer.Argument(help="Amount in yuan, e.g. 50 or 12.5.")],
    note: Annotated[str | None, typer.Option(help="Ledger note.")] = None,
) -> None:
    """Add money to an account (recorded in the ledger)."""
    from jditem.server.accounts import service

    units = _units(yuan, "amount")
    account = _run(ctx, lambda s: service.topup(s, name, units, note))
    typer.echo(f"account {account.name!r} balance is now {account.balance_yuan} yuan")


@admin_app.command("ledger")
def ledger(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show (newest first).")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Show ledger rows: charges (negative) and top-ups (positive)."""
    from jditem.server.accounts import service

    rows = _run(ctx, lambda s: service.ledger(s, account, limit=limit))
    if as_json:
        _print_json_lines(ctx, rows)
        return
    _print_table(
        "Ledger",
        ["id", "time", "account", "kind", "amount (yuan)", "token", "item", "request"],
        [
            [
                str(r.id),
                _local_time(ctx, r.created_at),
                r.account,
                r.kind,
                _yuan(r.amount_units),
                "-" if r.token_id is None else str(r.token_id),
                r.item_id or "-",
                r.request_id or (r.note or "-"),
            ]
            for r in rows
        ],
    )


def register(app: typer.Typer) -> None:
    """Register ``jditem admin`` (with ``admin upstream`` and ``admin member`` from their
    own modules)."""
    from jditem.cli import admin_members, admin_upstream

    admin_upstream.register(admin_app)
    admin_members.register(admin_app, account_app)
    app.add_typer(admin_app, name="admin")


prune.register(admin_app)
