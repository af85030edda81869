"""``jditem admin member`` and ``jditem admin account caps``: the people who sign in to
the console for one account (SPEC §2.9), and the caps on the tokens they create.

Passwords are never typed here: ``member add`` and ``member reset`` print a one-time
set-password link (valid 7 days) to hand to the person, who opens it and chooses one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from jditem.server.accounts.members import MemberCaps, MemberPublic

#: ``jditem serve``'s default address: where a link points unless ``--base-url`` says.
DEFAULT_BASE_URL = "http://127.0.0.1:8000"

member_app = typer.Typer(
    help="Account members: people who sign in to the console for one account.",
    no_args_is_help=True,
)

BaseUrlOption = Annotated[
    str,
    typer.Option(
        "--base-url",
        help="The console's address as the member reaches it (default: jditem serve's).",
    ),
]


def _link(base_url: str, secret: str) -> str:
    from jditem.cli.admin import _usage
    from jditem.server.accounts.members import setup_path

    base = base_url.strip().rstrip("/")
    if not base.startswith(("http://", "https://")) or " " in base:
        raise _usage(
            f"--base-url must be an http(s) address like {DEFAULT_BASE_URL} (got {base!r})"
        )
    return base + setup_path(secret)


def _print_link(member: MemberPublic, link: str, what: str) -> None:
    typer.echo(
        f"{what} {member.email} ({member.role} of account {member.account!r}); send them this "
        "one-time link to set a password (valid 7 days, shown only now):"
    )
    typer.echo(link)


@member_app.command("add")
def member_add(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The member's e-mail address (signs in with it).")],
    account: Annotated[str, typer.Option(help="The account the member belongs to.")],
    role: Annotated[
        str, typer.Option(help="owner (manages the account's tokens and members) or member.")
    ] = "member",
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
) -> None:
    """Add a member; prints the one-time set-password link alone on the last line."""
    from jditem.cli.admin import _run
    from jditem.server.accounts import members

    _link(base_url, "x")  # a bad --base-url fails before anything is written
    member, secret = _run(ctx, lambda s: members.add_member(s, email, account, role))
    _print_link(member, _link(base_url, secret), "added")


@member_app.command("list")
def member_list(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="Only this account's members.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead.")] = False,
) -> None:
    """List members: e-mail, account, role, whether a password is set."""
    from jditem.cli.admin import _local_time, _print_json_lines, _print_table, _run
    from jditem.server.accounts import members
    from jditem.server.accounts.service import account_by_name

    async def read(session: AsyncSession) -> list[MemberPublic]:
        account_id = None
        if account is not None:
            account_id = (await account_by_name(session, account)).id
        return await members.list_members(session, account_id)

    rows = _run(ctx, read)
    if as_json:
        _print_json_lines(ctx, rows)
        return
    _print_table(
        "Members",
        ["id", "e-mail", "account", "role", "password", "added"],
        [
            [
                str(m.id),
                m.email,
                m.account,
                m.role,
                "set" if m.has_password else "link pending",
                _local_time(ctx, m.created_at),
            ]
            for m in rows
        ],
    )


@member_app.command("reset")
def member_reset(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The member's e-mail address.")],
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
) -> None:
    """New set-password link: the old password and every session of the member end now."""
    from jditem.cli.admin import _run
    from jditem.server.accounts import members

    _link(base_url, "x")

    async def reset(session: AsyncSession) -> tuple[MemberPublic, str]:
        found = await members.find_member(session, email)
        return await members.reset_password(session, found.id)

    member, secret = _run(ctx, reset)
    _print_link(member, _link(base_url, secret), "reset the password of")


@member_app.command("role")
def member_role(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The member's e-mail address.")],
    role: Annotated[str, typer.Argument(help="owner or member.")],
) -> None:
    """Make a member an owner of its account, or a plain member."""
    from jditem.cli.admin import _run
    from jditem.server.accounts import members

    async def change(session: AsyncSession) -> MemberPublic:
        found = await members.find_member(session, email)
        return await members.set_role(session, found.id, role)

    member = _run(ctx, change)
    typer.echo(f"{member.email} is now {member.role} of account {member.account!r}")


@member_app.command("remove")
def member_remove(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The member's e-mail address.")],
) -> None:
    """Remove a member: its sessions end; the tokens it created stay with the account."""
    from jditem.cli.admin import _run
    from jditem.server.accounts import members

    async def remove(session: AsyncSession) -> MemberPublic:
        found = await members.find_member(session, email)
        return await members.remove_member(session, found.id)

    member = _run(ctx, remove)
    typer.echo(f"removed {member.email} from account {member.account!r}")


def _caps_row(name: str, caps: MemberCaps) -> list[str]:
    from jditem.cli.admin import _yuan

    return [
        name,
        "no cap" if caps.max_budget_units is None else _yuan(caps.max_budget_units),
        "no cap" if caps.max_rate_limit is None else f"{caps.max_rate_limit:g}",
        "no cap" if caps.max_daily_quota is None else str(caps.max_daily_quota),
    ]


def account_caps(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Account name.")],
    max_budget: Annotated[
        str | None, typer.Option(help="Most budget (yuan) per member token, or 'none'.")
    ] = None,
    max_rate: Annotated[
        str | None, typer.Option(help="Most requests/second per member token, or 'none'.")
    ] = None,
    max_quota: Annotated[
        str | None, typer.Option(help="Most calls per day per member token, or 'none'.")
    ] = None,
) -> None:
    """Show or set the caps on tokens the account's members create (only options given
    change; with a cap, a member must set that limit on each token, at most the cap)."""
    from jditem.cli.admin import _optional, _print_table, _run
    from jditem.server.accounts import members
    from jditem.server.accounts.money import yuan_to_units
    from jditem.server.accounts.service import account_by_name

    changes: dict[str, Any] = {}
    if max_budget is not None:
        changes["max_budget_units"] = _optional(max_budget, yuan_to_units, "--max-budget")
    if max_rate is not None:
        changes["max_rate_limit"] = _optional(max_rate, float, "--max-rate")
    if max_quota is not None:
        changes["max_daily_quota"] = _optional(max_quota, int, "--max-quota")

    async def apply(session: AsyncSession) -> MemberCaps:
        account = await account_by_name(session, name)
        caps = await members.member_caps(session, account.id)
        if not changes:
            return caps
        return await members.set_member_caps(session, account.name, caps.model_copy(update=changes))

    caps = _run(ctx, apply)
    _print_table(
        "Caps on tokens created by members",
        ["account", "max budget (yuan)", "max rate/s", "max quota/day"],
        [_caps_row(name, caps)],
    )


def register(admin_app: typer.Typer, account_app: typer.Typer) -> None:
    """Add ``member`` to ``jditem admin`` and ``caps`` to ``jditem admin account`` (once)."""
    if any(group.name == "member" for group in admin_app.registered_groups):
        return
    admin_app.add_typer(member_app, name="member")
    account_app.command("caps")(account_caps)
