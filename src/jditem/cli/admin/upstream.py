"""``jditem admin upstream``: the relay's upstream figures, as on the console's Upstream page.

Upstream spend is shown as certain (charged calls) + possible (ambiguous calls: sent,
no complete answer — SPEC §5), in calls and, with ``JDITEM_UPSTREAM_PRICE_UNITS``, in
yuan.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from jditem.cli.admin.common import as_yuan, print_table, run, settings
from jditem.wording import plural

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from jditem.server.upstream.summary import UpstreamSummary


def upstream(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(min=1, max=90, help="Local days to show.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Upstream calls and charges (certain + possible) per day, savings, circuit."""
    from jditem.server.clock import utc_now
    from jditem.server.upstream.summary import summarize

    server = settings(ctx)

    async def read(session: AsyncSession) -> UpstreamSummary:
        return await summarize(session, server, utc_now(), days=days)

    summary = run(ctx, read)
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
        return
    rows = [
        [
            d.day,
            str(d.upstream_calls),
            str(d.upstream_charged),
            str(d.upstream_possibly_charged),
            str(d.caller_charged_calls),
            as_yuan(d.caller_charges_units),
            str(d.saved_calls),
        ]
        for d in [*summary.days, summary.totals]
    ]
    print_table(
        "Upstream calls and charges",
        [
            "day",
            "upstream calls",
            "upstream charged",
            "possibly charged",
            "caller charges (calls)",
            "caller charges (yuan)",
            "saved (calls)",
        ],
        rows,
    )
    totals, price = summary.totals, summary.upstream_price_units
    if price:
        certain = as_yuan(totals.upstream_charged * price)
        possible = as_yuan(totals.upstream_possibly_charged * price)
        typer.echo(f"upstream spend: {certain} yuan certain + {possible} yuan possible")
    else:
        typer.echo(
            f"upstream spend: {totals.upstream_charged} charged calls certain + "
            f"{totals.upstream_possibly_charged} possible (JDITEM_UPSTREAM_PRICE_UNITS "
            "unset)"
        )
    code = f" (upstream code {summary.circuit_code})" if summary.circuit_code else ""
    typer.echo(f"circuit: {summary.circuit_state.replace('_', ' ')}{code}")
    if summary.circuit_message:
        typer.echo(f"  {summary.circuit_message}")
    rate = (
        ""
        if summary.health_success_rate is None
        else f", success rate {summary.health_success_rate:.1%}"
    )
    typer.echo(
        f"upstream health: {summary.health_level} ({plural(summary.health_samples, 'call')}{rate})"
    )
    if summary.endpoints:
        answered = ", ".join(f"{k} {v}" for k, v in sorted(summary.endpoints.items()))
        typer.echo(f"endpoints: {answered}")
    if summary.codes:
        codes = ", ".join(f"{k} {v}" for k, v in sorted(summary.codes.items()))
        typer.echo(f"codes and failures: {codes}")
    for event in summary.history[:10]:
        typer.echo(f"  {event['at']}  {event['state']:<9} {event['message']}")
