"""``jditem serve``: run the embedded server (uvicorn) on a local port.

Also holds the database helpers ``jditem admin`` shares. Server modules are imported
inside the functions, so the ``cli`` extra alone can import this module.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from jditem.server.settings import Settings

T = TypeVar("T")


def database_url(value: str | None) -> str | None:
    """``--db`` as an async SQLAlchemy URL: URLs pass through, plain paths become SQLite."""
    if value is None or not value.strip():
        return None
    if "://" in value:
        return value
    return f"sqlite+aiosqlite:///{Path(value).expanduser().resolve()}"


class SettingsInvalid(Exception):
    """The environment holds a setting the server cannot run with (message says which)."""


def settings_error(exc: Exception) -> str:
    """``invalid setting: …`` on one line for one problem, one line per problem otherwise."""
    text = str(exc)
    return f"invalid settings:\n{text}" if "\n" in text else f"invalid setting: {text}"


def settings_problems(exc: Exception) -> str:
    """A pydantic ``ValidationError`` on :class:`Settings` as lines naming the variables."""
    errors = getattr(exc, "errors", None)
    if errors is None:
        return str(exc)
    lines = []
    for error in errors():
        field = ".".join(str(part) for part in error.get("loc", ()))
        name = f"JDITEM_{field.upper()}" if field else "settings"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"{name}: {message}")
    return "\n".join(lines)


def load_settings(db: str | None, **overrides: Any) -> Settings:
    """Settings from the environment, with ``--db`` applied.

    Raises :class:`SettingsInvalid` (one line per bad variable) instead of a traceback.
    """
    from pydantic import ValidationError

    from jditem.server.settings import Settings

    url = database_url(db)
    if url is not None:
        overrides["database_url"] = url
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsInvalid(settings_problems(exc)) from None


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


def run_with_session(settings: Settings, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Migrate the database, open one session, run ``fn(session)``, and close everything."""
    from jditem.server.store.db import Database, migrate

    async def main() -> T:
        db = Database.from_url(settings.effective_database_url)
        try:
            await migrate(db.engine)
            async with db.sessionmaker() as session:
                return await fn(session)
        finally:
            await db.dispose()

    return asyncio.run(main())


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
        message = str(exc).replace(
            "allow_insecure_http=True (CLI: --insecure)", "--upstream-allow-insecure-http"
        )
        return f"upstream: {message}"
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
            int | None, typer.Option(help="In-process collection workers (default 16).")
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
    ) -> None:
        """Run the JD item-detail server (v2 endpoint, admin API, console)."""
        import uvicorn

        from jditem.server.app import create_app
        from jditem.server.collectors import build_collector
        from jditem.server.serving import uvicorn_config

        overrides: dict[str, Any] = {}
        for name, value in (
            ("workers", workers),
            ("collector", collector),
            ("upstream", upstream),
            ("upstream_token_file", upstream_token_file),
            ("upstream_endpoints", upstream_endpoints),
            ("upstream_rate", upstream_rate),
        ):
            if value is not None:
                overrides[name] = value
        if upstream_allow_insecure_http:
            overrides["upstream_allow_insecure_http"] = True
        try:
            settings = load_settings(db, **overrides)
            if settings.collector == "sandbox":
                build_collector(settings)  # its own checks (e.g. the sandbox latency range)
        except (SettingsInvalid, ValueError) as exc:
            typer.echo(f"error: {settings_error(exc)}", err=True)
            raise typer.Exit(2) from None
        problem = check_upstream(settings) if settings.collector == "relay" else None
        if problem is not None:
            typer.echo(f"error: {problem}", err=True)
            raise typer.Exit(2)
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
        try:
            demo_token = run_with_session(settings, _first_start)
        except Exception as exc:
            sock.close()
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
        typer.echo(
            f"Serving on http://{host}:{bound_port} (database {settings.effective_database_url})"
        )
        config = uvicorn_config(create_app(settings), settings, log_level="info")
        uvicorn.Server(config).run(sockets=[sock])
