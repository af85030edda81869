"""Redis URLs as users type them (``--redis`` / ``JDITEM_REDIS_URL``), checked before use.

Accepted — the forms redis-py connects to:

* ``redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`` (TCP; port 6379 and database 0 by default)
* ``rediss://…`` (the same over TLS)
* ``unix://[[USER]:PASSWORD@]/PATH/redis.sock[?db=DB]`` (a unix socket)

Anything else — ``localhost:6379`` without a scheme, a port or database that is not a
number — is refused with a :class:`RedisUrlError` naming these forms, before anything
is created (the store's twin is :mod:`jditem.server.store.urls`). :func:`check_client`
names the extra to install when the ``redis`` package is missing. Messages never hold
the URL's password (:func:`display_redis_url`). Nothing here imports ``redis`` at import
time, so the check runs without it.
"""

from __future__ import annotations

import importlib
from urllib.parse import parse_qsl, urlsplit

SCHEMES = ("redis", "rediss", "unix")

ACCEPTED = "redis://[:PASSWORD@]HOST[:PORT][/DB], rediss://… (TLS) or unix:///PATH/redis.sock"

#: The extra that installs the Redis client.
EXTRA = "scale"


class RedisUrlError(ValueError):
    """A Redis URL that cannot be used, or no Redis client; the message says what to do."""


def display_redis_url(url: str) -> str:
    """``url`` with its password masked (safe for logs, errors and pages)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        rest = url  # typed without a scheme: still mask what may be a password
    if "@" not in rest:
        return url
    userinfo, _, host = rest.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user + ':***' if user else '***'}@{host}"


def _refuse(problem: str) -> RedisUrlError:
    return RedisUrlError(f"{problem}; give {ACCEPTED}")


def _check_query(url: str, shown: str) -> None:
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if name == "db" and not value.isdigit():
            raise _refuse(f"the database in {shown!r} (db={value}) is not a number")


def normalize_redis_url(value: str) -> str:
    """``value`` stripped, once it is a Redis URL redis-py can use (see the module
    docstring); raises :class:`RedisUrlError` otherwise."""
    text = value.strip()
    shown = display_redis_url(text)
    if not text:
        raise _refuse("the Redis URL is empty")
    if "://" not in text:
        guess = f"unix://{text}" if text.startswith("/") else f"redis://{text}"
        raise _refuse(f"{shown!r} has no scheme (did you mean {display_redis_url(guess)}?)")
    scheme = text.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        raise _refuse(f"unsupported Redis URL scheme {scheme + '://'!r}")
    parts = urlsplit(text)
    if scheme == "unix":
        if not parts.path or parts.path == "/":
            raise _refuse(f"{shown!r} names no socket file")
    else:
        try:
            port = parts.port
        except ValueError:
            raise _refuse(f"the port in {shown!r} is not a number from 1 to 65535") from None
        if port == 0:
            raise _refuse(f"the port in {shown!r} is not a number from 1 to 65535")
        database = parts.path.strip("/")
        if database and not database.isdigit():
            raise _refuse(
                f"the database after the host in {shown!r} ({database!r}) is not a number (e.g. /0)"
            )
    _check_query(text, shown)
    _check_with_client(text, shown)
    return text


def _check_with_client(url: str, shown: str) -> None:
    """redis-py's own parse (query options such as ``socket_timeout``), when installed."""
    try:
        connection = importlib.import_module("redis.connection")
    except ImportError:
        return
    try:
        connection.parse_url(url)
    except ValueError as exc:
        raise _refuse(f"{shown!r}: {str(exc).rstrip('.')}") from None


def check_client() -> None:
    """Raise :class:`RedisUrlError` (one line naming the extra) when ``redis`` is missing."""
    try:
        importlib.import_module("redis")
    except ImportError:
        raise RedisUrlError(
            f"Redis needs the redis package, which is not installed: pip install 'jditem[{EXTRA}]'"
        ) from None
