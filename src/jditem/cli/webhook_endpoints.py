"""``jditem webhooks add|list|show|remove|rotate|enable|test|deliveries|replay``: the
webhook endpoints of the token's account on a jditem server (SPEC §6.3).

They join ``jditem webhooks`` next to ``listen`` (:mod:`jditem.cli.webhooks`) and talk
to the server with ``client.webhooks`` (:mod:`jditem.client.webhooks`). A new or rotated
signing secret is printed once, on stdout; everything else goes as text or ``--json``.
Errors are one line on stderr and an exit code.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jditem.cli.client_options import BaseUrlOpt, InsecureOpt, TimeoutOpt, TokenOpt
from jditem.cli.server_session import Session
from jditem.cli.watch_rules import parse_interval
from jditem.cli.webhooks import webhooks_app

if TYPE_CHECKING:
    from jditem.protocol.webhooks import NewWebhookSecret, WebhookDelivery, WebhookEndpoint

EndpointArg = Annotated[int, typer.Argument(metavar="ID", min=1, help="The endpoint's id.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _when(value: Any) -> str:
    return value.astimezone().isoformat(timespec="seconds") if value is not None else "-"


def _endpoint_line(endpoint: WebhookEndpoint) -> str:
    state = "enabled" if endpoint.enabled else f"DISABLED: {endpoint.disabled_reason}"
    lists = ",".join(endpoint.lists) or "all lists"
    kinds = ",".join(endpoint.kinds) or "all kinds"
    return f"{endpoint.id:>4}  {endpoint.url}  [{lists}; {kinds}]  {state}"


def _secret(made: NewWebhookSecret, what: str) -> None:
    typer.echo(f"{what}; its signing secret (shown this once, keep it):", err=True)
    typer.echo(made.secret.get_secret_value())
    if made.previous_secret_until is not None:
        typer.echo(
            f"the previous secret keeps signing too until {_when(made.previous_secret_until)}",
            err=True,
        )


@webhooks_app.command("add")
def add_command(
    url: Annotated[str, typer.Argument(metavar="URL", help="Your receiver's https:// URL.")],
    lists: Annotated[
        list[str] | None,
        typer.Option("--list", help="Only events of this watch list (repeat; default: all)."),
    ] = None,
    kinds: Annotated[
        list[str] | None,
        typer.Option("--kind", help="Only events of this kind, e.g. price_drop (repeat)."),
    ] = None,
    description: Annotated[str, typer.Option(help="A note for yourself.")] = "",
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Add an endpoint for the account's change events; prints its secret once."""
    with Session(base_url, token, insecure, timeout) as client:
        made = client.webhooks.add(
            url, lists=lists or [], kinds=kinds or [], description=description
        )
    _secret(made, f"endpoint {made.id} added")


@webhooks_app.command("list")
def list_command(
    as_json: JsonOpt = False,
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """The account's endpoints (never their secrets)."""
    with Session(base_url, token, insecure, timeout) as client:
        found = client.webhooks.list()
    if as_json:
        typer.echo(json.dumps([e.to_wire() for e in found], ensure_ascii=False, indent=2))
    elif not found:
        typer.echo("no webhook endpoints; add one with: jditem webhooks add URL", err=True)
    for endpoint in [] if as_json else found:
        typer.echo(_endpoint_line(endpoint))


@webhooks_app.command("remove")
def remove_command(
    endpoint_id: EndpointArg,
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Remove an endpoint, its pending deliveries and its delivery log."""
    with Session(base_url, token, insecure, timeout) as client:
        client.webhooks.remove(endpoint_id)
    typer.echo(f"endpoint {endpoint_id} removed", err=True)


@webhooks_app.command("rotate")
def rotate_command(
    endpoint_id: EndpointArg,
    overlap: Annotated[
        str, typer.Option(help="How long the old secret signs too (seconds, or 1h, 1d).")
    ] = "1d",
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """A new signing secret (printed once); the old one keeps signing for --overlap."""
    seconds = 0 if overlap.strip() == "0" else parse_interval(overlap, option="--overlap")
    with Session(base_url, token, insecure, timeout) as client:
        made = client.webhooks.rotate(endpoint_id, overlap_seconds=seconds)
    _secret(made, f"endpoint {endpoint_id} has a new secret")


@webhooks_app.command("enable")
def enable_command(
    endpoint_id: EndpointArg,
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Enable a disabled endpoint; its pending deliveries go out again."""
    with Session(base_url, token, insecure, timeout) as client:
        typer.echo(_endpoint_line(client.webhooks.enable(endpoint_id)))


@webhooks_app.command("test")
def send_test_command(
    endpoint_id: EndpointArg,
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Send a webhook.test event to an endpoint (see it with 'deliveries')."""
    with Session(base_url, token, insecure, timeout) as client:
        webhook_id = client.webhooks.test(endpoint_id)
    typer.echo(f"test event {webhook_id} queued for endpoint {endpoint_id}")


def _delivery_lines(delivery: WebhookDelivery) -> list[str]:
    head = (
        f"{delivery.id:>6}  {delivery.webhook_id}  {delivery.type}  {delivery.status}"
        f"  attempts {delivery.attempts}"
    )
    if delivery.status == "pending" and delivery.next_attempt_at is not None:
        head += f"  next {_when(delivery.next_attempt_at)}"
    lines = [head]
    for attempt in delivery.log:
        answer = str(attempt.status) if attempt.status is not None else attempt.error or "-"
        note = f"  {attempt.detail}" if attempt.error else ""
        lines.append(f"        {_when(attempt.at)}  {answer}  {attempt.latency_ms} ms{note}")
    return lines


@webhooks_app.command("deliveries")
def deliveries_command(
    endpoint_id: EndpointArg,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many, newest first.")] = 20,
    as_json: JsonOpt = False,
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """An endpoint's newest deliveries, each with every attempt (status, latency, error)."""
    with Session(base_url, token, insecure, timeout) as client:
        found = client.webhooks.deliveries(endpoint_id, limit=limit)
    if as_json:
        typer.echo(json.dumps([d.to_wire() for d in found], ensure_ascii=False, indent=2))
        return
    for delivery in found:
        for line in _delivery_lines(delivery):
            typer.echo(line)


@webhooks_app.command("replay")
def replay_command(
    delivery_id: Annotated[
        int, typer.Argument(metavar="DELIVERY", min=1, help="The delivery's id.")
    ],
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Send a delivery again, with the same webhook-id (receivers deduplicate on it)."""
    with Session(base_url, token, insecure, timeout) as client:
        new_id = client.webhooks.replay(delivery_id)
    typer.echo(f"delivery {delivery_id} queued again as delivery {new_id}")


def register(app: typer.Typer) -> None:
    """The commands join ``jditem webhooks`` when this module is imported (nothing to add)."""
    del app
