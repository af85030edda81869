"""``jditem serve``: run the embedded server (uvicorn) on a local port.

Also holds the database helpers ``jditem admin`` shares. Server modules are imported
inside the functions, so the ``cli`` extra alone can import this module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from jditem.server.settings import Settings

T = TypeVar("T")


def database_url(value: str | None) -> str | None:
    """``--db`` as an async SQLAlchemy URL (a path, sqlite:// or postgresql:// URL).

    Raises :class:`~jditem.server.store.urls.DatabaseUrlError` for what cannot be used.
    """
    if value is None or not value.strip():
        return None
    from jditem.server.store.urls import normalize_database_url

    return normalize_database_url(value)


class DatabaseOptionError(Exception):
    """``--db`` / ``JDITEM_DATABASE_URL`` cannot be used; the message is one clear line."""


def load_settings(db: str | None, **overrides: Any) -> Settings:
    """Settings from the environment, with ``--db`` applied.

    Raises :class:`DatabaseOptionError` (password-free, one line) when the database
    URL is malformed, of an unknown kind, or its driver is not installed.
    """
    from pydantic import ValidationError

    from jditem.server.settings import Settings
    from jditem.server.store.urls import DatabaseUrlError, check_driver

    try:
        url = database_url(db)
        if url is not None:
            overrides["database_url"] = url
        try:
            settings = Settings(**overrides)
        except ValidationError as exc:
            problems = [e for e in exc.errors() if e.get("loc") == ("database_url",)]
            if not problems:
                raise
            cause = problems[0].get("ctx", {}).get("error")
            raise DatabaseUrlError(str(cause or problems[0]["msg"])) from None
        check_driver(settings.effective_database_url)
    except DatabaseUrlError as exc:
        raise DatabaseOptionError(f"--db / JDITEM_DATABASE_URL: {exc}") from None
    return settings


def db_option_error(exc: DatabaseOptionError) -> typer.Exit:
    """Print ``exc`` as one ``error:`` line; the exit to raise."""
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


class DatabaseUnavailableError(Exception):
    """The database could not be reached or used; the message is one clear line."""


def database_problem(exc: BaseException, url: str) -> str:
    """One line on why ``url`` could not be used (no password, no SQL, no traceback)."""
    from sqlalchemy.exc import DBAPIError

    from jditem.server.store.urls import display_url

    cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return f"cannot use the database {display_url(url)}: {reason}"


def run_with_session(settings: Settings, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Migrate the database, open one session, run ``fn(session)``, and close everything.

    Raises :class:`DatabaseUnavailableError` when the database cannot be reached,
    opened or migrated (errors raised by ``fn`` itself pass through unchanged).
    """
    from sqlalchemy.exc import SQLAlchemyError

    from jditem.server.store.db import Database, migrate

    url = settings.effective_database_url

    async def main() -> T:
        db = Database.from_url(url)
        try:
            try:
                await migrate(db.engine)
            except (SQLAlchemyError, OSError) as exc:
                raise DatabaseUnavailableError(database_problem(exc, url)) from None
            async with db.sessionmaker() as session:
                return await fn(session)
        finally:
            await db.dispose()

    return asyncio.run(main())


def export_settings(settings: Settings) -> None:
    """Put the settings the command line chose into ``JDITEM_*`` variables (for children)."""
    import os

    os.environ["JDITEM_DATABASE_URL"] = settings.effective_database_url
    if settings.redis_url is not None:
        os.environ["JDITEM_REDIS_URL"] = settings.redis_url.get_secret_value()
    os.environ["JDITEM_WORKERS"] = str(settings.workers)
    os.environ["JDITEM_ROLE"] = settings.role


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
    ) -> None:
        """Run the JD item-detail server (v2 endpoint, admin API, console)."""
        import uvicorn

        from jditem.server.app import create_app
        from jditem.server.store.urls import display_url

        overrides: dict[str, Any] = {"workers": workers} if workers is not None else {}
        if redis:
            overrides["redis_url"] = redis
        if workers == 0:
            overrides["role"] = "api"
        try:
            settings = load_settings(db, **overrides)
        except DatabaseOptionError as exc:
            raise db_option_error(exc) from None
        except Exception as exc:
            typer.echo(f"error: invalid settings: {exc}", err=True)
            raise typer.Exit(2) from None
        if processes > 1 and settings.redis_url is None:
            typer.echo(
                f"error: --processes {processes} needs --redis URL (or JDITEM_REDIS_URL): "
                "without Redis each process would keep its own rate limits and wake-ups. "
                "Start Redis and pass its URL, or run one process.",
                err=True,
            )
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
        shown = display_url(settings.effective_database_url)  # never the password
        typer.echo(
            f"Serving on http://{host}:{port} (database {shown}"
            + (f", {processes} processes" if processes > 1 else "")
            + (", shared state in Redis)" if settings.redis_url is not None else ")")
        )
        if processes > 1:
            # Each uvicorn worker process builds its app from the environment.
            export_settings(settings)
            uvicorn.run(
                "jditem.server.app:create_app",
                factory=True,
                host=host,
                port=port,
                workers=processes,
                log_level="info",
            )
            return
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
