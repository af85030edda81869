"""``jditem get`` (items → product summaries or JSON) and ``jditem probe`` (one raw call).

Domain errors become one clean line on stderr and an exit code (:mod:`.exits`).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from jditem import errors
from jditem.cli.client_options import (
    AuthChoice,
    AuthOpt,
    BaseUrlOpt,
    EndpointChoice,
    EndpointOpt,
    InsecureOpt,
    ItemArg,
    TimeoutOpt,
    TokenOpt,
    client_options,
    item_id_arg,
)
from jditem.cli.exits import ExitCode, cli_message, error_json, exit_code_for, fail, usage_error
from jditem.cli.logs import VerboseOpt, enable_verbose
from jditem.protocol.product import Product


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


def _refs(items: list[str] | None, as_json: bool) -> list[str]:
    """The item ids named on the command line; ``-`` reads more from stdin (one a line)."""
    refs: list[str] = []
    for item in items or []:
        if item == "-":
            from jditem.formats.items import InvalidLine, parse_lines

            for entry in parse_lines(sys.stdin):
                if isinstance(entry, InvalidLine):
                    raise usage_error(f"stdin {entry.message}", as_json)
                refs.append(entry.item_id)
        else:
            refs.append(item_id_arg(item, as_json))
    return list(dict.fromkeys(refs))


def _show(product: Product, *, as_json: bool, raw: bool, many: bool, requested: str) -> None:
    if raw:
        typer.echo(json.dumps(product.raw, ensure_ascii=False, indent=None if many else 2))
    elif as_json:
        data = product.model_dump(mode="json", exclude={"raw"})
        if many:
            data = {"requested_id": requested, **data}
        typer.echo(json.dumps(data, ensure_ascii=False, indent=None if many else 2))
    else:
        if many:
            typer.echo(f"── {requested}")
        _print_summary(product)
    if product.sku_id != requested:
        typer.echo(
            f"warning: asked for item {requested}, the product's own id is {product.sku_id} "
            "(JD redirected it, or the server answered for another item)",
            err=True,
        )


def get_command(
    ctx: typer.Context,
    items: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="ITEM...",
            help="JD item ids (1-20 digits) or item URLs, e.g. 100012043978; - reads ids "
            "from stdin, one a line.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the normalized product as JSON (one line per item for several); "
            "errors too.",
        ),
    ] = False,
    raw: Annotated[
        bool, typer.Option("--raw", help="Print the payload exactly as received, as JSON.")
    ] = False,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            metavar="CONTINUATION",
            help="Continue waiting for an item that was still pending (the continuation "
            "printed with the error).",
            show_default=False,
        ),
    ] = None,
    base_url: BaseUrlOpt = None,
    endpoint: EndpointOpt = EndpointChoice.v2,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    auth: AuthOpt = AuthChoice.query,
    deadline: Annotated[
        float, typer.Option("--deadline", min=0.001, help="Seconds to wait for each item at most.")
    ] = 900.0,
    timeout: TimeoutOpt = 120.0,
    max_calls: Annotated[
        int, typer.Option("--max-calls", min=1, help="HTTP calls for each item at most.")
    ] = 6,
    verbose: VerboseOpt = False,
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
    """Fetch items (waiting out pending) and print a product summary or JSON for each."""
    from jditem.cli.config import resolve_token
    from jditem.client import Client

    enable_verbose(verbose, ctx)
    if as_json and raw:
        raise usage_error("--json and --raw exclude each other; pick one", as_json)
    refs = _refs(items, as_json)
    if resume is None and not refs:
        raise usage_error("pass an ITEM id or URL (several, or - for stdin)", as_json)
    if resume is not None and refs:
        raise usage_error("--resume continues one item: pass it without ITEM", as_json)
    options = client_options(base_url, endpoint, insecure, auth, timeout)
    continuation: dict[str, Any] = {}
    if resume is not None:
        from jditem.client.retry import parse_continuation

        try:
            continuation = parse_continuation(resume)
        except errors.JditemError as error:
            raise fail(error, as_json=as_json) from None
        # the continuation knows its server: use it unless the user chose another
        if options["base_url"] is None and base_url is None:
            options["base_url"] = continuation.get("baseUrl")
        if endpoint is EndpointChoice.v2 and continuation.get("endpoint"):
            options["endpoint"] = continuation["endpoint"]
        refs = [str(continuation.get("itemId"))]
    many = len(refs) > 1
    worst = ExitCode.OK
    try:
        with Client(
            resolve_token(token),
            deadline=deadline,
            max_calls_per_item=max_calls,
            endpoints=endpoints,
            **options,
        ) as client:
            for ref in refs:
                try:
                    product = client.resume(resume) if resume is not None else client.get(ref)
                except errors.FatalError as error:
                    raise fail(error, as_json=as_json, timeout=timeout) from None
                except errors.JditemError as error:
                    if not many:
                        raise fail(error, as_json=as_json, timeout=timeout) from None
                    if as_json:
                        typer.echo(json.dumps(error_json(error, ref), ensure_ascii=False))
                    else:
                        typer.echo(f"Error: {ref}: {cli_message(error, timeout=timeout)}", err=True)
                    worst = worst or exit_code_for(error)
                    continue
                _show(product, as_json=as_json, raw=raw, many=many, requested=ref)
    except errors.JditemError as error:
        raise fail(error, as_json=as_json, timeout=timeout) from None
    raise typer.Exit(worst)


def probe_command(
    ctx: typer.Context,
    item: ItemArg,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the call and its classification as JSON.")
    ] = False,
    base_url: BaseUrlOpt = None,
    endpoint: EndpointOpt = EndpointChoice.v2,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    auth: AuthOpt = AuthChoice.query,
    timeout: TimeoutOpt = 120.0,
    verbose: VerboseOpt = False,
) -> None:
    """Make exactly one real call (a success is charged like any call) and print the
    redacted raw response and its classification."""
    from jditem.cli.config import resolve_token
    from jditem.client import Client

    enable_verbose(verbose, ctx)
    item_id = item_id_arg(item, as_json)
    typer.echo(
        "note: probe makes one real call; an answer with data (code 0) is charged like any call",
        err=True,
    )
    try:
        with Client(
            resolve_token(token), **client_options(base_url, endpoint, insecure, auth, timeout)
        ) as client:
            result = client.probe(item_id)
    except errors.JditemError as error:
        raise fail(error, as_json=as_json, timeout=timeout) from None
    if as_json:
        c = result.classified
        try:
            body: Any = json.loads(result.body)
        except ValueError:
            body = result.body
        known = errors_code_meaning(c.code)
        typer.echo(
            json.dumps(
                {
                    "request": result.request_line,
                    "http_status": result.http_status,
                    "headers": result.headers,
                    "body": body,
                    "classification": {
                        "outcome": c.outcome.value,
                        "code": c.code,
                        "meaning": known,
                        "retry_after": c.retry_after,
                        "request_id": c.request_id,
                        "error": None if c.error is None else cli_message(c.error),
                        "summary": result.summary,
                    },
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    typer.echo(result.request_line)
    typer.echo(f"HTTP {result.http_status}")
    for name, value in result.headers.items():
        typer.echo(f"{name}: {value}")
    typer.echo("")
    typer.echo(result.body)
    typer.echo("")
    typer.echo(f"classification: {result.summary}")


def errors_code_meaning(code: int | None) -> str | None:
    """What a business code means (``None`` for an unknown or absent code)."""
    from jditem.protocol.codes import Code

    known = Code.lookup(code) if code is not None else None
    return known.default_message if known is not None else None


def register(app: typer.Typer) -> None:
    """Register ``get`` and ``probe`` on ``app``."""
    app.command("get")(get_command)
    app.command("probe")(probe_command)
