"""``jditem admin``: accounts, tokens, balances, the ledger, account members, the relay's
upstream figures and pruning, straight on the server's database.

Each module holds the commands of one group as plain functions; :func:`register` is the
one place that puts them in their groups. ``--db`` may also follow a subcommand
(``jditem admin token list --db URL``).
"""

from __future__ import annotations

import typer

from jditem.cli.admin import accounts, balances, members, prune, tokens, upstream
from jditem.cli.admin.common import DbOption
from jditem.cli.options import OptionAnywhereGroup


def build_admin() -> typer.Typer:
    """The ``admin`` group with every subcommand."""
    admin = typer.Typer(
        cls=OptionAnywhereGroup, help="Manage accounts, tokens and balances.", no_args_is_help=True
    )
    account = typer.Typer(help="Accounts (a balance shared by their tokens).", no_args_is_help=True)
    token = typer.Typer(help="API tokens (shown once at creation).", no_args_is_help=True)
    balance = typer.Typer(
        help="Account balances: without a subcommand, every account's balance.",
        invoke_without_command=True,
    )
    member = typer.Typer(
        help="Account members: people who sign in to the console for one account.",
        no_args_is_help=True,
    )

    @admin.callback()
    def _admin(ctx: typer.Context, db: DbOption = None) -> None:
        """Manage accounts, tokens and balances."""
        ctx.obj = {"db": db}

    for group, name in ((account, "account"), (token, "token"), (balance, "balance")):
        admin.add_typer(group, name=name)
    admin.add_typer(member, name="member")

    account.command("create")(accounts.account_create)
    account.command("rename")(accounts.account_rename)
    account.command("list")(accounts.account_list)
    account.command("caps")(members.account_caps)

    token.command("create")(tokens.token_create)
    token.command("list")(tokens.token_list)
    token.command("disable")(tokens.token_disable)
    token.command("enable")(tokens.token_enable)
    token.command("update")(tokens.token_update)

    balance.callback()(balances.balance_show)
    balance.command("topup")(balances.balance_topup)
    admin.command("ledger")(balances.ledger)

    member.command("add")(members.member_add)
    member.command("list")(members.member_list)
    member.command("reset")(members.member_reset)
    member.command("role")(members.member_role)
    member.command("remove")(members.member_remove)

    admin.command("prune")(prune.prune)
    admin.command("upstream")(upstream.upstream)
    return admin


def register(app: typer.Typer) -> None:
    """Register ``jditem admin``."""
    app.add_typer(build_admin(), name="admin")
