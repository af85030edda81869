"""``jditem admin balance`` (every account's balance, top-ups) and ``jditem admin ledger``
(charges and top-ups, newest first)."""

from __future__ import annotations

from typing import Annotated

import typer

from jditem.cli.admin.common import (
    JsonOption,
    as_yuan,
    fail,
    local_time,
    print_json_lines,
    print_table,
    run,
    to_units,
)


def balance_show(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
) -> None:
    """Show account balances (and each account's tokens' spend)."""
    if ctx.invoked_subcommand is not None:
        return
    from jditem.server.accounts import service

    accounts = run(ctx, service.list_accounts)
    tokens = run(ctx, lambda s: service.list_tokens(s, None))
    chosen = [a for a in accounts if account is None or a.name == account]
    if account is not None and not chosen:
        raise fail(f"no account named {account!r}; see: jditem admin account list")
    spent: dict[str, int] = {}
    for t in tokens:
        spent[t.account] = spent.get(t.account, 0) + (t.spent_units or 0)
    print_table(
        "Balances",
        ["account", "balance (yuan)", "spent by its tokens (yuan)", "tokens"],
        [
            [
                a.name,
                a.balance_yuan,
                as_yuan(spent.get(a.name, 0)),
                str(sum(1 for t in tokens if t.account == a.name)),
            ]
            for a in chosen
        ],
    )


def balance_topup(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Account name.")],
    yuan: Annotated[str, typer.Argument(help="Amount in yuan, e.g. 50 or 12.5.")],
    note: Annotated[str | None, typer.Option(help="Ledger note.")] = None,
) -> None:
    """Add money to an account (recorded in the ledger)."""
    from jditem.server.accounts import service

    units = to_units(yuan, "amount")
    account = run(ctx, lambda s: service.topup(s, name, units, note))
    typer.echo(f"account {account.name!r} balance is now {account.balance_yuan} yuan")


def ledger(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show (newest first).")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Show ledger rows: charges (negative) and top-ups (positive)."""
    from jditem.server.accounts import service

    rows = run(ctx, lambda s: service.ledger(s, account, limit=limit))
    if as_json:
        print_json_lines(ctx, rows)
        return
    print_table(
        "Ledger",
        ["id", "time", "account", "kind", "amount (yuan)", "token", "item", "request"],
        [
            [
                str(r.id),
                local_time(ctx, r.created_at),
                r.account,
                r.kind,
                as_yuan(r.amount_units),
                "-" if r.token_id is None else str(r.token_id),
                r.item_id or "-",
                r.request_id or (r.note or "-"),
            ]
            for r in rows
        ],
    )
