"""PostgreSQL-only pieces: the ONE module (besides :mod:`.sqlite`) allowed PG-specific SQL.

The scale-out profile (SPEC §2.8) keeps its state in PostgreSQL, shared by many
processes. What differs from SQLite lives here: the engine's pool settings and the
advisory lock that lets many processes start at once without racing each other
through the Alembic migrations.
"""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

#: Key of the advisory lock held while migrating (any constant shared by all processes).
MIGRATION_LOCK_KEY = 0x6A_64_69_74  # "jdit"

#: Pooled connections per process (the default 5 + 10 overflow is too few for
#: a worker pool of 16 plus the request path).
POOL_SIZE = 10
MAX_OVERFLOW = 30


def is_postgres(url: str) -> bool:
    """True when ``url`` points at PostgreSQL (any driver)."""
    return make_url(url).get_backend_name() == "postgresql"


def engine_options() -> dict[str, object]:
    """Keyword arguments for ``create_async_engine`` on PostgreSQL."""
    return {"pool_size": POOL_SIZE, "max_overflow": MAX_OVERFLOW, "pool_pre_ping": True}


def lock_for_migrations(connection: Connection) -> None:
    """Hold a transaction-scoped advisory lock: one process migrates at a time."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
