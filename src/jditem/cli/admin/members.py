"""``jditem admin member`` and ``jditem admin account caps``: the people who sign in to
the console for one account (SPEC §2.9), and the caps on the tokens they create.

Passwords are never typed here: ``member add`` and ``member reset`` print a one-time
set-password link (valid 7 days) to hand to the person, who opens it and chooses one.
The link starts with ``--base-url``, else the server's ``JDITEM_PUBLIC_URL``, else
``<console-address>``, a placeholder to replace (the database does not know at which
address its server is reached, so nothing is guessed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from jditem.cli.admin.common import (
    as_yuan,
    local_time,
    optional,
    print_json_lines,
    print_table,
    run,
    settings,
    usage,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from jditem.server.accounts.caps import MemberCaps
    from jditem.server.accounts.members import MemberPublic

#: Stands for the console's address in a link when none is configured.
PLACEHOLDER = "<console-address>"

BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="The console's address as the member opens it, e.g. https://jd.example.com "
        "(default: JDITEM_PUBLIC_URL; unset: a placeholder to replace).",
    ),
]


def _base(ctx: typer.Context, base_url: str | None) -> str:
    """``--base-url``, else the server's ``JDITEM_PUBLIC_URL``, else :data:`PLACEHOLDER`;
    checked before anything is written."""
    from jditem.server.settings import public_url_problem

    if base_url is None:
        return settings(ctx).public_url or PLACEHOLDER
    base = base_url.strip().rstrip("/")
    problem = public_url_problem(base)
    if problem is not None:
        raise usage(f"--base-url: {problem}")
    return base


def _print_link(member: MemberPublic, base: str, secret: str, what: str) -> None:
    from jditem.server.accounts.members import setup_path

    if base == PLACEHOLDER:
        typer.echo(
            f"hint: JDITEM_PUBLIC_URL is not set, so the link below starts with "
            f"{PLACEHOLDER}: replace it with the address people open this server's console "
            "at (e.g. https://jd.example.com), or set JDITEM_PUBLIC_URL (or pass --base-url) "
            "and get a new link with `jditem admin member reset`.",
            err=True,
        )
    typer.echo(
        f"{what} {member.email} ({member.role} of account {member.account!r}); send them this "
        "one-time link to set a password (valid 7 days, shown only now):"
    )
    typer.echo(base + setup_path(secret))


def member_add(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The member's e-mail address (signs in with it).")],
    account: Annotated[str, typer.Option(help="The account the member belongs to.")],
    role: Annotated[
        str, typer.Option(help="owner (manages the account's tokens and members) or member.")
    ] = "member",
    base_url: BaseUrlOption = None,
) -> None:
    """Add a member; prints the one-time set-password link alone on the last line."""
    from jditem.server.accounts import members

    base = _base(ctx, base_url)
    member, secret = run(ctx, lambda s: members.add_member(s, email, account, role))
    _print_link(member, base, secret, "added")


def member_list(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="Only this account's members.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead.")] = False,
) -> None:
    """List members: e-mail, account, role, whether a password is set."""
    from jditem.server.accounts import members
    from jditem.server.accounts.service import account_by_name

    async def read(session: AsyncSession) -> list[MemberPublic]:
        account_id = None
        if account is not None:
            account_id = (await account_by_name(session, account)).id
        return await members.list_members(session, account_id)

    rows = run(ctx, read)
    if as_json:
        print_json_lines(ctx, rows)
        return
    print_table(
        "Members",
        ["id", "e-mail", "account", "role", "password", "added"],
        [
            [
                str(m.id),
                m.email,
                m.account,
                m.role,
                "set" if m.has_password else "link pending",
                local_time(ctx, m.created_at),
            ]
            for m in rows
        ],
    )


def member_reset(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The member's e-mail address.")],
    base_url: BaseUrlOption = None,
) -> None:
    """New set-password link: the old password and every session of the member end now."""
    from jditem.server.accounts import members

    base = _base(ctx, base_url)

    async def reset(session: AsyncSession) -> tuple[MemberPublic, str]:
        found = await members.find_member(session, email)
        return await members.reset_password(session, found.id)

    member, secret = run(ctx, reset)
    _print_link(member, base, secret, "reset the password of")


def member_role(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The member's e-mail address.")],
    role: Annotated[str, typer.Argument(help="owner or member.")],
) -> None:
    """Make a member an owner of its account, or a plain member."""
    from jditem.server.accounts import members

    async def change(session: AsyncSession) -> MemberPublic:
        found = await members.find_member(session, email)
        return await members.set_role(session, found.id, role)

    member = run(ctx, change)
    typer.echo(f"{member.email} is now {member.role} of account {member.account!r}")


def member_remove(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The member's e-mail address.")],
) -> None:
    """Remove a member: its sessions end; the tokens it created stay with the account."""
    from jditem.server.accounts import members

    async def remove(session: AsyncSession) -> MemberPublic:
        found = await members.find_member(session, email)
        return await members.remove_member(session, found.id)

    member = run(ctx, remove)
    typer.echo(f"removed {member.email} from account {member.account!r}")


def _caps_row(name: str, caps: MemberCaps) -> list[str]:

    return [
        name,
        "no cap" if caps.max_budget_units is None else as_yuan(caps.max_budget_units),
        "no cap" if caps.max_rate_limit is None else f"{caps.max_rate_limit:g}",
        "no cap" if caps.burst_cap is None else str(caps.burst_cap),
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
    max_burst: Annotated[
        str | None,
        typer.Option(
            help="Most burst (calls at once) per member token, or 'none' (then one second's "
            "worth of --max-rate, rounded up). Needs --max-rate."
        ),
    ] = None,
    max_quota: Annotated[
        str | None, typer.Option(help="Most calls per day per member token, or 'none'.")
    ] = None,
) -> None:
    """Show or set the caps on tokens the account's members (owners too) create; only the
    options given change.

    With a cap, every token a member creates or edits must set that limit, at most the
    cap. The burst is capped whenever the rate is: by --max-burst, else by one second's
    worth of --max-rate (rounded up). Setting or lowering a cap lowers the account's
    existing member-created tokens to it at once (a token without that limit gets the
    cap); tokens an operator created are left as they are.
    """
    from jditem.server.accounts.caps import member_caps, set_member_caps
    from jditem.server.accounts.money import yuan_to_units
    from jditem.server.accounts.service import account_by_name

    changes: dict[str, Any] = {}
    if max_budget is not None:
        changes["max_budget_units"] = optional(max_budget, yuan_to_units, "--max-budget")
    if max_rate is not None:
        changes["max_rate_limit"] = optional(max_rate, float, "--max-rate")
    if max_burst is not None:
        changes["max_burst"] = optional(max_burst, int, "--max-burst")
    if max_quota is not None:
        changes["max_daily_quota"] = optional(max_quota, int, "--max-quota")

    async def apply(session: AsyncSession) -> tuple[MemberCaps, int]:
        account = await account_by_name(session, name)
        caps = await member_caps(session, account.id)
        if not changes:
            return caps, 0
        return await set_member_caps(session, account.name, caps.model_copy(update=changes))

    caps, lowered = run(ctx, apply)
    print_table(
        "Caps on tokens created by members",
        ["account", "max budget (yuan)", "max rate/s", "max burst", "max quota/day"],
        [_caps_row(name, caps)],
    )
    if lowered:
        typer.echo(f"lowered {lowered} existing member token(s) to these caps")
