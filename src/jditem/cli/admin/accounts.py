"""``jditem admin account``: create, rename and list accounts (a balance shared by their
tokens). Amounts are decimal yuan strings (``12.50``), converted exactly to units of
0.0001 CNY."""

from __future__ import annotations

from typing import Annotated

import typer

from jditem.cli.admin.common import (
    JsonOption,
    local_time,
    print_json_lines,
    print_table,
    run,
    to_units,
)


def account_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Account name.")],
    balance: Annotated[str, typer.Option(help="Opening balance in yuan, e.g. 100.")] = "0",
) -> None:
    """Create an account with an opening balance."""
    from jditem.server.accounts import service

    units = to_units(balance, "--balance")
    account = run(ctx, lambda s: service.create_account(s, name, units))
    typer.echo(f"created account {account.name!r} with balance {account.balance_yuan} yuan")


def account_rename(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The current name, exactly as listed.")],
    new_name: Annotated[str, typer.Argument(help="The new name.")],
) -> None:
    """Rename an account (also one whose name an older version accepted and the admin API
    cannot address, such as a name with '/')."""
    from jditem.server.accounts import service

    account = run(ctx, lambda s: service.rename_account(s, name, new_name))
    typer.echo(f"renamed account {name!r} to {account.name!r}")


def account_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List accounts and balances."""
    from jditem.server.accounts import service

    accounts = run(ctx, service.list_accounts)
    if as_json:
        print_json_lines(ctx, accounts)
        return
    print_table(
        "Accounts",
        ["id", "name", "balance (yuan)", "created"],
        [[str(a.id), a.name, a.balance_yuan, local_time(ctx, a.created_at)] for a in accounts],
    )
