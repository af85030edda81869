"""The server's settings and database, for the CLI's server commands (``serve``,
``worker``, ``admin``): settings from the environment and ``--db`` / ``--redis``, the
database migrated and opened. Every refusal is one clear line, never a traceback.

Server modules are imported inside the functions, so the ``cli`` extra alone can import
this module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from jditem.server.settings import Settings
    from jditem.server.store.db import Database

T = TypeVar("T")


def database_url(value: str | None) -> str | None:
    """``--db`` as an async SQLAlchemy URL (a path, sqlite:// or postgresql:// URL).

    Raises :class:`~jditem.server.store.urls.DatabaseUrlError` for what cannot be used.
    """
    if value is None or not value.strip():
        return None
    from jditem.server.store.urls import normalize_database_url

    return normalize_database_url(value)


class SettingsInvalid(Exception):
    """The environment holds a setting the server cannot run with (message says which)."""


class UrlOptionError(SettingsInvalid):
    """``--db`` or ``--redis`` (or its variable) cannot be used; the message is one line."""


class DatabaseOptionError(UrlOptionError):
    """``--db`` / ``JDITEM_DATABASE_URL`` cannot be used; the message is one clear line."""


class RedisOptionError(UrlOptionError):
    """``--redis`` / ``JDITEM_REDIS_URL`` cannot be used, or the redis client is missing."""


#: The URL settings whose refusal names the option, and the error each raises.
URL_OPTIONS: dict[str, tuple[str, type[UrlOptionError]]] = {
    "database_url": ("--db / JDITEM_DATABASE_URL", DatabaseOptionError),
    "redis_url": ("--redis / JDITEM_REDIS_URL", RedisOptionError),
}


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


def load_settings(db: str | None, *, uses_redis: bool = False, **overrides: Any) -> Settings:
    """Settings from the environment, with ``--db`` applied.

    Raises :class:`SettingsInvalid` (one line per bad variable) instead of a traceback,
    and a :class:`UrlOptionError` (password-free, one line) when the database or Redis
    URL is malformed or of an unknown kind, or the database driver is not installed.
    ``uses_redis`` (commands that connect to Redis): a Redis URL without the ``redis``
    package is a :class:`RedisOptionError` naming the extra, before anything is created.
    """
    from pydantic import ValidationError

    from jditem.server.settings import Settings
    from jditem.server.shared.redis_url import RedisUrlError, check_client
    from jditem.server.store.urls import DatabaseUrlError, check_driver

    try:
        url = database_url(db)
        if url is not None:
            overrides["database_url"] = url
        try:
            settings = Settings(**overrides)
        except ValidationError as exc:
            for error in exc.errors():
                loc = error.get("loc", ())
                if len(loc) == 1 and loc[0] in URL_OPTIONS:
                    label, kind = URL_OPTIONS[str(loc[0])]
                    cause = error.get("ctx", {}).get("error") or error["msg"]
                    raise kind(f"{label}: {cause}") from None
            raise SettingsInvalid(settings_problems(exc)) from None
        check_driver(settings.effective_database_url)
    except DatabaseUrlError as exc:
        raise DatabaseOptionError(f"--db / JDITEM_DATABASE_URL: {exc}") from None
    if uses_redis and settings.redis_url is not None:
        try:
            check_client()
        except RedisUrlError as exc:
            raise RedisOptionError(f"--redis / JDITEM_REDIS_URL: {exc}") from None
    return settings


def db_option_error(exc: UrlOptionError) -> typer.Exit:
    """Print ``exc`` (``--db`` or ``--redis``) as one ``error:`` line; the exit (2) to raise."""
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


def load_server_settings(db: str | None, overrides: dict[str, Any]) -> Settings:
    """Settings for ``serve`` / ``worker``: every refusal is one ``error:`` line, exit 2,
    before anything is created (the database URL, the Redis URL and its client)."""
    try:
        return load_settings(db, uses_redis=True, **overrides)
    except UrlOptionError as exc:
        raise db_option_error(exc) from None
    except SettingsInvalid as exc:
        typer.echo(f"error: {settings_error(exc)}", err=True)
        raise typer.Exit(2) from None


class DatabaseUnavailableError(Exception):
    """The database could not be reached or used; the message is one clear line."""


def database_problem(exc: BaseException, url: str) -> str:
    """One line on why ``url`` could not be used (no password, no SQL, no traceback)."""
    from sqlalchemy.exc import DBAPIError

    from jditem.server.store.urls import display_url

    cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return f"cannot use the database {display_url(url)}: {reason}"


def run_on_database(settings: Settings, fn: Callable[[Database], Awaitable[T]]) -> T:
    """Migrate the database, run ``fn(database)``, and close everything.

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
            return await fn(db)
        finally:
            await db.dispose()

    return asyncio.run(main())


def run_with_session(settings: Settings, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """:func:`run_on_database` with one session: ``fn(session)``."""

    async def in_session(db: Database) -> T:
        async with db.sessionmaker() as session:
            return await fn(session)

    return run_on_database(settings, in_session)
