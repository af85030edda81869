"""``jditem admin token``: create, list, enable, disable and update API tokens.

``token create`` prints the new token once, alone on the last line of stdout; listings
never show the secret."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from jditem.cli.admin.common import (
    JsonOption,
    as_yuan,
    local_time,
    optional,
    print_json_lines,
    print_table,
    run,
    settings,
    to_units,
    usage,
)


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

    server = settings(ctx)
    budget_units = to_units(budget, "--budget") if budget is not None else None
    rate_limit = None if unlimited else (rate if rate is not None else server.default_rate_limit)
    burst_size = None if unlimited else (burst if burst is not None else server.default_burst)
    quota = daily_quota if daily_quota is not None else server.default_daily_quota
    public, raw = run(
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


def token_list(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="Only this account's tokens.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List tokens (prefix, limits, spend, last use); never the secret."""
    from jditem.server.accounts import service

    tokens = run(ctx, lambda s: service.list_tokens(s, account))
    if as_json:
        print_json_lines(ctx, tokens)
        return
    print_table(
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
                as_yuan(t.budget_units),
                as_yuan(t.spent_units),
                ", ".join(t.permissions) or "-",
                local_time(ctx, t.last_used_at),
            ]
            for t in tokens
        ],
    )


def token_disable(
    ctx: typer.Context, ref: Annotated[str, typer.Argument(help="Token id or prefix.")]
) -> None:
    """Disable a token: its calls answer code 100."""
    from jditem.server.accounts import service

    token = run(ctx, lambda s: service.set_token_enabled(s, ref, False))
    typer.echo(f"disabled token {token.prefix}... (id {token.id})")


def token_enable(
    ctx: typer.Context, ref: Annotated[str, typer.Argument(help="Token id or prefix.")]
) -> None:
    """Enable a token again."""
    from jditem.server.accounts import service

    token = run(ctx, lambda s: service.set_token_enabled(s, ref, True))
    typer.echo(f"enabled token {token.prefix}... (id {token.id})")


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
        fields["budget_units"] = optional(budget, yuan_to_units, "--budget")
    if rate is not None:
        fields["rate_limit"] = optional(rate, float, "--rate")
    if burst is not None:
        fields["burst"] = optional(burst, int, "--burst")
    if daily_quota is not None:
        fields["daily_quota"] = optional(daily_quota, int, "--daily-quota")
    if not fields:
        raise usage("nothing to change: pass --name, --budget, --rate, --burst or --daily-quota")
    token = run(ctx, lambda s: service.update_token(s, ref, **fields))
    typer.echo(f"updated token {token.prefix}... (id {token.id})")
