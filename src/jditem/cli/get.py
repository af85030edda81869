"""``jditem get`` (one item → product summary or JSON) and ``jditem probe`` (one raw call).

Domain errors become one clean line on stderr and an exit code (see :func:`exit_code_for`).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer

from jditem import errors
from jditem.protocol.ids import parse_item_ref
from jditem.protocol.product import Product


class ExitCode:
    """Process exit codes of the CLI (documented in the README)."""

    OK = 0
    OTHER = 1
    USAGE = 2
    QUOTA = 3
    AUTH_OR_MONEY = 4
    NOT_SERVING_DATA = 5


def exit_code_for(error: BaseException) -> int:
    """The exit code for an error: 2 usage, 3 quota, 4 auth/balance/budget, 5 not serving."""
    if isinstance(error, errors.ConfigurationError):
        return ExitCode.USAGE
    if isinstance(error, errors.QuotaExceededError):
        return ExitCode.QUOTA
    if isinstance(error, errors.FatalError):
        return ExitCode.AUTH_OR_MONEY
    if isinstance(error, errors.NotServingDataError):
        return ExitCode.NOT_SERVING_DATA
    return ExitCode.OTHER


class EndpointChoice(StrEnum):
    v1 = "v1"
    v2 = "v2"
    v3 = "v3"


class AuthChoice(StrEnum):
    query = "query"
    header = "header"


ItemArg = Annotated[
    str, typer.Argument(help="JD item id (1-20 digits) or item URL, e.g. 100012043978.")
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="Preset (global, cn) or URL of a compatible server. Env: JDITEM_BASE_URL.",
        show_default="global",
    ),
]
EndpointOpt = Annotated[
    EndpointChoice,
    typer.Option("--endpoint", help="v2 = task-backed (default); v1/v3 = synchronous."),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        help="API token. Prefer the JDITEM_TOKEN / JUSTONEAPI_TOKEN environment variables.",
        show_default=False,
    ),
]
InsecureOpt = Annotated[
    bool,
    typer.Option("--insecure", help="Allow plain http:// to a non-loopback host (token in clear)."),
]
AuthOpt = Annotated[
    AuthChoice,
    typer.Option("--auth", help="Send the token as ?token= (query) or Authorization: Bearer."),
]


def _fail(error: BaseException) -> typer.Exit:
    typer.echo(f"Error: {error}", err=True)
    return typer.Exit(exit_code_for(error))


def _item_id(ref: str) -> str:
    item_id = parse_item_ref(ref)
    if item_id is None:
        typer.echo(
            f"Error: {ref!r} is neither an item id (1-20 digits) nor a JD item URL; "
            "pass e.g. 100012043978 or https://item.jd.com/100012043978.html",
            err=True,
        )
        raise typer.Exit(ExitCode.USAGE)
    return item_id


def _money(value: Any) -> str:
    return f"¥{value}" if value is not None else "-"


def summary_lines(product: Product) -> list[tuple[str, str]]:
    """``(label, value)`` rows of the readable product summary."""
    price = product.price
    current = f"{price.display or '?'} (masked by JD)" if price.masked else _money(price.current)
    price_text = f"{current}  list {_money(price.original)}  promo {_money(price.promo)}"
    stock = product.availability
    if stock.in_stock is None:
        stock_text = "unknown"
    else:
        stock_text = "in stock" if stock.in_stock else "out of stock"
    if stock.stock_state is not None:
        stock_text += f" (state {stock.stock_state})"
    shop = product.shop
    shop_text = shop.name or "-"
    if shop.is_self_operated:
        shop_text += " (JD self-operated)"
    return [
        ("Title", product.title or "-"),
        ("SKU", product.sku_id),
        ("Brand", product.brand.name or "-"),
        ("Price", price_text),
        ("Stock", stock_text),
        ("Shop", shop_text),
        ("URL", product.url),
    ]


def _print_summary(product: Product) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for label, value in summary_lines(product):
        table.add_row(label, value)
    Console(highlight=False, soft_wrap=True).print(table)


def _client_options(
    base_url: str | None, endpoint: EndpointChoice, insecure: bool, auth: AuthChoice
) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "endpoint": endpoint.value,
        "allow_insecure_http": insecure,
        "auth": auth.value,
    }


def get_command(
    item: ItemArg,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the normalized product as JSON.")
    ] = False,
    raw: Annotated[
        bool, typer.Option("--raw", help="Print the payload exactly as received, as JSON.")
    ] = False,
    base_url: BaseUrlOpt = None,
    endpoint: EndpointOpt = EndpointChoice.v2,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    auth: AuthOpt = AuthChoice.query,
    deadline: Annotated[
        float, typer.Option("--deadline", min=0.001, help="Seconds to wait for the item at most.")
    ] = 900.0,
    max_calls: Annotated[
        int, typer.Option("--max-calls", min=1, help="HTTP calls for the item at most.")
    ] = 6,
    endpoints: Annotated[
        str | None,
        typer.Option(
            "--endpoints",
            help="Endpoint fallback order, e.g. v2,v1: an instruction message (code 0 "
            "without data) moves on to the next. Opt-in (endpoints may be priced "
            "differently); overrides --endpoint.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Fetch one item (waiting out pending) and print a product summary or JSON."""
    from jditem.client import Client

    if as_json and raw:
        typer.echo("Error: --json and --raw exclude each other; pick one", err=True)
        raise typer.Exit(ExitCode.USAGE)
    item_id = _item_id(item)
    try:
        with Client(
            token,
            deadline=deadline,
            max_calls_per_item=max_calls,
            endpoints=endpoints,
            **_client_options(base_url, endpoint, insecure, auth),
        ) as client:
            product = client.get(item_id)
    except errors.JditemError as error:
        raise _fail(error) from None
    if raw:
        typer.echo(json.dumps(product.raw, ensure_ascii=False, indent=2))
    elif as_json:
        typer.echo(
            json.dumps(
                product.model_dump(mode="json", exclude={"raw"}), ensure_ascii=False, indent=2
            )
        )
    else:
        _print_summary(product)


def probe_command(
    item: ItemArg,
    base_url: BaseUrlOpt = None,
    endpoint: EndpointOpt = EndpointChoice.v2,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    auth: AuthOpt = AuthChoice.query,
) -> None:
    """Make exactly one call and print the redacted raw response and its classification."""
    from jditem.client import Client

    item_id = _item_id(item)
    try:
        with Client(token, **_client_options(base_url, endpoint, insecure, auth)) as client:
            result = client.probe(item_id)
    except errors.JditemError as error:
        raise _fail(error) from None
    typer.echo(result.request_line)
    typer.echo(f"HTTP {result.http_status}")
    for name, value in result.headers.items():
        typer.echo(f"{name}: {value}")
    typer.echo("")
    typer.echo(result.body)
    typer.echo("")
    typer.echo(f"classification: {result.summary}")


def register(app: typer.Typer) -> None:
    """Register ``get`` and ``probe`` on ``app``."""
    app.command("get")(get_command)
    app.command("probe")(probe_command)
