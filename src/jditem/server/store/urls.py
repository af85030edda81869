"""Database URLs as users type them, normalised to the async driver the store uses.

Accepted (``--db`` / ``JDITEM_DATABASE_URL``):

* a file path (``./server.db``, ``~/jd/server.db``) → ``sqlite+aiosqlite:///<absolute>``
* ``sqlite:///…``, ``sqlite+pysqlite:///…``, ``sqlite+aiosqlite:///…`` → aiosqlite
* ``postgresql://…``, ``postgres://…`` (the libpq / Heroku spelling),
  ``postgresql+asyncpg://…``, ``postgresql+psycopg://…``, ``postgresql+psycopg2://…``
  → ``postgresql+asyncpg://…`` (query parameters such as ``?host=/run/pg`` are kept)

Anything else is refused with a :class:`DatabaseUrlError` that says what is accepted.
:func:`check_driver` turns a missing driver into one line naming the extra to install.
Messages never contain the password of a URL (:func:`display_url`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

#: The async driver used for each backend, and the extra that installs it.
DRIVERS: dict[str, tuple[str, str, str]] = {
    # backend: (driver name, importable module, pip extra)
    "sqlite": ("aiosqlite", "aiosqlite", "server"),
    "postgresql": ("asyncpg", "asyncpg", "scale"),
}

_BACKEND_ALIASES = {"postgres": "postgresql", "postgresql": "postgresql", "sqlite": "sqlite"}

ACCEPTED = (
    "a SQLite file path, sqlite:///PATH, sqlite+aiosqlite:///PATH, "
    "postgresql://USER:PASSWORD@HOST/DB, postgres://… or postgresql+asyncpg://…"
)


class DatabaseUrlError(ValueError):
    """A database URL that cannot be used; the message says what to do instead."""


def display_url(url: str | URL) -> str:
    """``url`` with its password masked (safe for logs, errors and pages)."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "<unparsable database URL>"
    return parsed.render_as_string(hide_password=True)


def normalize_database_url(value: str) -> str:
    """The async SQLAlchemy URL for what a user typed (see the module docstring).

    Raises :class:`DatabaseUrlError` for an empty value, an unknown scheme or a
    malformed URL.
    """
    text = value.strip()
    if not text:
        raise DatabaseUrlError(f"the database URL is empty; give {ACCEPTED}")
    if "://" not in text:
        return f"sqlite+aiosqlite:///{Path(text).expanduser().resolve()}"
    scheme = text.split("://", 1)[0].lower()
    backend = _BACKEND_ALIASES.get(scheme.split("+", 1)[0])
    if backend is None:
        raise DatabaseUrlError(
            f"unsupported database URL scheme {scheme + '://'!r}; give {ACCEPTED}"
        )
    # make_url does not know "postgres"; rewrite the scheme, keep the rest as typed
    rest = text.split("://", 1)[1]
    driver = DRIVERS[backend][0]
    normalised = f"{backend}+{driver}://{rest}"
    try:
        parsed = make_url(normalised)
    except ArgumentError as exc:
        raise DatabaseUrlError(
            f"malformed database URL {display_url(text)!r} ({exc}); give {ACCEPTED}"
        ) from None
    if backend == "sqlite":
        database = parsed.database or ""
        if database.startswith("~"):
            return f"{backend}+{driver}:///{Path(database).expanduser()}"
    elif not parsed.database:
        raise DatabaseUrlError(
            f"the PostgreSQL URL {display_url(parsed)!r} names no database; "
            "add it after the host, e.g. postgresql://jditem@localhost/jditem"
        )
    return normalised


def backend_name(url: str) -> str:
    """``sqlite`` or ``postgresql`` for a normalised ``url``."""
    return make_url(url).get_backend_name()


def check_driver(url: str) -> None:
    """Raise :class:`DatabaseUrlError` (one line, naming the extra) if the driver is missing."""
    backend = backend_name(url)
    known = DRIVERS.get(backend)
    if known is None:
        return
    driver, module, extra = known
    if importlib.util.find_spec(module) is None:
        what = "PostgreSQL" if backend == "postgresql" else "SQLite"
        raise DatabaseUrlError(
            f"{what} needs the {driver} driver, which is not installed: "
            f"pip install 'jditem[{extra}]'"
        )
