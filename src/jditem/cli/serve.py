"""``jditem serve``: run the embedded server (uvicorn) on a local port.

Server modules are imported inside the functions, so the ``cli`` extra alone can import
this module.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jditem.cli.exits import cli_message
from jditem.cli.server_db import DatabaseUnavailableError, load_server_settings, run_with_session

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from jditem.server.settings import Settings


def listen_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket for ``host:port`` (raises ``OSError`` when taken).

    Bound before anything is created or printed, so a port in use is reported first.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


DEMO_ACCOUNT = "demo"
DEMO_BALANCE_UNITS = 1_000_000  # 100 yuan


async def _first_start(session: AsyncSession) -> str | None:
    """On an empty database: a ``demo`` account and token; returns the raw token."""
    from jditem.server.accounts import service

    if await service.list_accounts(session):
        return None
    await service.create_account(session, DEMO_ACCOUNT, DEMO_BALANCE_UNITS)
    _, raw = await service.create_token(session, DEMO_ACCOUNT, name="demo")
    return raw


#: How ``serve`` lets a relay reach a plain-http upstream off loopback.
UPSTREAM_INSECURE_ADVICE = "use https://, or pass --upstream-allow-insecure-http if you accept that"


def check_upstream(settings: Settings) -> str | None:
    """The relay's start check: None when ready, else one line saying what to fix.

    The upstream token is present (environment or file), the upstream URL is allowed
    (plain HTTP off loopback needs ``--upstream-allow-insecure-http``), and the
    upstream answers HTTP at all (any status: the check spends nothing).
    """
    import httpx

    from jditem.errors import ConfigurationError
    from jditem.server.collectors.relay import upstream_config
    from jditem.server.upstream.token import UpstreamConfigError

    try:
        config = upstream_config(settings)
    except UpstreamConfigError as exc:
        return str(exc)
    except ConfigurationError as exc:
        advice = {"allow_insecure_http": UPSTREAM_INSECURE_ADVICE}
        return f"upstream: {cli_message(exc, option_advice=advice)}"
    try:
        httpx.get(config.base_url + "/", timeout=10.0, follow_redirects=False)
    except httpx.HTTPError as exc:
        return (
            f"the upstream {config.base_url} is unreachable ({type(exc).__name__}); check "
            "--upstream and the network, then start again"
        )
    return None


def register(app: typer.Typer) -> None:
    """Register ``jditem serve``."""

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port (0 = any free port).")] = 8000,
        db: Annotated[
            str | None,
            typer.Option(
                help="Database URL or SQLite file path "
                "(default: server.db under JDITEM_HOME, default ~/.jditem)."
            ),
        ] = None,
        workers: Annotated[
            int | None,
            typer.Option(
                help="Collection workers per process (default 16; 0 = API only, "
                "collection left to `jditem worker` processes)."
            ),
        ] = None,
        collector: Annotated[
            str | None,
            typer.Option(
                help="Where products come from: 'sandbox' (bundled catalog, default) or "
                "'relay' (an upstream speaking this contract; see --upstream)."
            ),
        ] = None,
        upstream: Annotated[
            str | None,
            typer.Option(
                help="Relay upstream: 'global', 'cn' or a base URL (default global). The "
                "upstream token comes from JDITEM_UPSTREAM_TOKEN or --upstream-token-file."
            ),
        ] = None,
        upstream_token_file: Annotated[
            Path | None,
            typer.Option(help="File whose first line is the relay's upstream token."),
        ] = None,
        upstream_endpoints: Annotated[
            str | None,
            typer.Option(help="Upstream endpoints in fallback order (default v2,v1,v3)."),
        ] = None,
        upstream_rate: Annotated[
            float | None,
            typer.Option(help="Upstream calls per second, shared by every worker (default 5)."),
        ] = None,
        upstream_allow_insecure_http: Annotated[
            bool,
            typer.Option(
                "--upstream-allow-insecure-http",
                help="Allow plain http:// to a non-loopback upstream (e.g. 'cn'): the upstream "
                "token then travels in clear text.",
            ),
        ] = False,
        redis: Annotated[
            str | None,
            typer.Option(
                help="Redis URL for the scale-out profile (shared rate limits, wake-ups, "
                "cache invalidation, health); default JDITEM_REDIS_URL. Required with "
                "--processes above 1."
            ),
        ] = None,
        processes: Annotated[
            int,
            typer.Option(min=1, help="API processes sharing the port (needs --redis above 1)."),
        ] = 1,
        no_access_log: Annotated[
            bool,
            typer.Option(
                "--no-access-log",
                help="Write no access log (e.g. when a reverse proxy logs requests); "
                "default JDITEM_ACCESS_LOG.",
            ),
        ] = False,
    ) -> None:
        """Run the JD item-detail server (v2 endpoint, admin API, console)."""
        # The port first, before any slow import or check: a port in use is said at once.
        try:
            sock = listen_socket(host, port)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            typer.echo(
                f"error: cannot listen on {host}:{port}: {reason}. Stop the program using "
                "that port or choose another with --port.",
                err=True,
            )
            raise typer.Exit(1) from None
        overrides: dict[str, Any] = {}
        for name, value in (
            ("workers", workers),
            ("collector", collector),
            ("upstream", upstream),
            ("upstream_token_file", upstream_token_file),
            ("upstream_endpoints", upstream_endpoints),
            ("upstream_rate", upstream_rate),
            ("redis_url", redis or None),
        ):
            if value is not None:
                overrides[name] = value
        if upstream_allow_insecure_http:
            overrides["upstream_allow_insecure_http"] = True
        if no_access_log:
            overrides["access_log"] = False
        if workers == 0:
            overrides["role"] = "api"
        with sock:
            _serve(sock, host, processes, load_server_settings(db, overrides))


def _serve(sock: socket.socket, host: str, processes: int, settings: Settings) -> None:
    """``jditem serve`` once the port is bound and the settings are valid."""
    import uvicorn

    from jditem.server.app import create_app
    from jditem.server.http.config import configure_logging, uvicorn_config
    from jditem.server.http.supervisor import run_processes
    from jditem.server.shared.redis_url import display_redis_url
    from jditem.server.store.urls import display_url

    if processes > 1 and settings.redis_url is None:
        typer.echo(
            f"error: --processes {processes} needs --redis URL (or JDITEM_REDIS_URL): "
            "without Redis each process would keep its own rate limits and wake-ups. "
            "Start Redis and pass its URL, or run one process.",
            err=True,
        )
        raise typer.Exit(2)
    problem = check_upstream(settings) if settings.collector == "relay" else None
    if problem is not None:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2)
    try:
        demo_token = run_with_session(settings, _first_start)
    except DatabaseUnavailableError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except Exception as exc:
        typer.echo(f"error: cannot prepare the database: {exc}", err=True)
        raise typer.Exit(1) from None
    if demo_token is not None:
        typer.echo(
            f"First start: created account '{DEMO_ACCOUNT}' with 100 yuan and a demo "
            "token. It is shown only once — store it now:"
        )
        typer.echo(demo_token)
    if settings.admin_key is None:
        typer.echo(
            "note: JDITEM_ADMIN_KEY is not set, so the admin API and console are disabled.",
            err=True,
        )
    if settings.collector == "relay":
        typer.echo(
            f"Relaying to {settings.upstream} (endpoints {settings.upstream_endpoints}, "
            f"{settings.upstream_rate:g} calls/s shared)"
        )
    bound_port = sock.getsockname()[1]
    shown = display_url(settings.effective_database_url)  # never the password
    redis = settings.redis_url
    typer.echo(
        f"Serving on http://{host}:{bound_port} (database {shown}"
        + (f", {processes} processes" if processes > 1 else "")
        + (
            f", shared state in Redis {display_redis_url(redis.get_secret_value())})"
            if redis
            else ")"
        )
    )
    if processes > 1:
        configure_logging()  # the parent's own lines (a replaced process) as the children's
        run_processes(create_app, settings, sock, processes, log_level="info")
        return
    config = uvicorn_config(create_app(settings), settings, log_level="info")
    uvicorn.Server(config).run(sockets=[sock])
