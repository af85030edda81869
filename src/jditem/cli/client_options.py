"""The options every command that calls the API shares (``get``, ``probe``, ``batch``,
``mcp``): base URL, endpoint, token, transport security, authentication, timeout."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from jditem.cli.config import resolve_base_url
from jditem.cli.exits import usage_error
from jditem.protocol.ids import parse_item_ref


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


TimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", min=0.001, help="Seconds to wait for one HTTP answer (read)."),
]


def client_options(
    base_url: str | None,
    endpoint: EndpointChoice,
    insecure: bool,
    auth: AuthChoice,
    timeout: float | None = None,
) -> dict[str, Any]:
    """The client options the connection flags give (the base URL resolved through the
    config file)."""

    options: dict[str, Any] = {
        "base_url": resolve_base_url(base_url),
        "endpoint": endpoint.value,
        "allow_insecure_http": insecure,
        "auth": auth.value,
    }
    if timeout is not None:
        options["read_timeout"] = timeout
    return options


def item_id_arg(ref: str, as_json: bool = False) -> str:
    """The item id of an ``ITEM`` argument (an id or a JD item URL), or a usage error."""
    item_id = parse_item_ref(ref)
    if item_id is None:
        raise usage_error(
            f"{ref!r} is neither an item id (1-20 digits) nor a JD item URL; "
            "pass e.g. 100012043978 or https://item.jd.com/100012043978.html",
            as_json,
        )
    return item_id
