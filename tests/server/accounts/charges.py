"""What the charge tests share: a database with two accounts and three tokens, and
the instants the charges are made at."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from jditem.server.accounts import service
from jditem.server.store.db import Database, migrate

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
SINCE = NOW - timedelta(hours=1)  # idempotency keys older than this are expired
DAY = "2026-11-28"


async def two_accounts(url: str) -> AsyncIterator[Database]:
    """A migrated database at ``url`` holding accounts a1 (two tokens) and a2 (one)."""
    database = Database.from_url(url)
    await migrate(database.engine)
    async with database.sessionmaker() as session:
        await service.create_account(session, "a1", 0)
        await service.create_account(session, "a2", 0)
        for account in ("a1", "a1", "a2"):
            await service.create_token(session, account)
    yield database
    await database.dispose()
