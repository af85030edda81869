"""Migration 0017_ledger_indexes: the rows stay, the indexes and foreign keys change as
the models say, the failure-code readers use the partial index, and it downgrades."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Connection, Executable, insert, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tests.support.postgres import PgCluster

import jditem
from jditem.server.store.db import Database, alembic_config, migrate
from jditem.server.store.tables import CALL_FAILED, Account, ApiToken, CallRecord, LedgerEntry

BEFORE = "0016_charge_function"

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def _seed() -> list[Executable]:
    """Rows written before the upgrade: an account, a token, a charge, two call records."""
    call = {"token_id": 1, "account_id": 1, "endpoint": "v2", "latency_ms": 3, "created_at": NOW}
    return [
        insert(Account).values(id=1, name="a", balance=900, created_at=NOW),
        insert(ApiToken).values(
            id=1, account_id=1, prefix="jd_x", token_hash="h", permissions=[], created_at=NOW
        ),
        insert(LedgerEntry).values(
            account_id=1, token_id=1, kind="charge", amount=-100, request_id="r1", created_at=NOW
        ),
        insert(CallRecord).values(request_id="r1", code=0, charged=100, **call),
        insert(CallRecord).values(request_id="r2", code=301, charged=0, **call),
    ]


def _downgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, BEFORE)


def _schema(connection: Connection) -> dict[str, object]:
    found = inspect(connection)
    return {
        "ledger indexes": {
            ix["name"] for ix in found.get_indexes("ledger") if str(ix["name"]).startswith("ix_")
        },
        "foreign keys": [
            fk["name"] for t in ("ledger", "call_records") for fk in found.get_foreign_keys(t)
        ],
    }


async def _scalar(conn: AsyncConnection, sql: str) -> Any:
    """``sql``'s one value, with ``:ix`` the partial index's name."""
    return (await conn.execute(text(sql), {"ix": "ix_call_records_code_created"})).scalar_one()


async def _seeded_at_before(engine: AsyncEngine) -> None:
    await migrate(engine, BEFORE)
    async with engine.begin() as conn:
        for statement in _seed():
            await conn.execute(statement)


async def _upgrade_then_downgrade(engine: AsyncEngine) -> None:
    await migrate(engine)
    async with engine.connect() as conn:
        schema = await conn.run_sync(_schema)
        rows = (await conn.execute(text("SELECT count(*) FROM ledger"))).scalar_one()
        records = (await conn.execute(text("SELECT count(*) FROM call_records"))).scalar_one()
    assert schema == {
        "ledger indexes": {"ix_ledger_account_id", "ix_ledger_account_kind_amount"},
        "foreign keys": [],
    }
    assert (rows, records) == (1, 2)
    async with engine.begin() as conn:
        await conn.run_sync(_downgrade)
    async with engine.connect() as conn:
        schema = await conn.run_sync(_schema)
    assert schema["ledger indexes"] == {
        "ix_ledger_account_id",
        "ix_ledger_account_kind_amount",
        "ix_ledger_created_at",
        "ix_ledger_token_id",
    }
    assert sorted(schema["foreign keys"]) == [  # type: ignore[call-overload]
        "fk_call_records_account_id_accounts",
        "fk_call_records_token_id_tokens",
        "fk_ledger_account_id_accounts",
        "fk_ledger_token_id_tokens",
    ]
    await migrate(engine)


async def test_sqlite_upgrade_keeps_rows_and_failure_filters_use_the_partial_index(
    tmp_path: Path,
) -> None:
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        await _seeded_at_before(db.engine)
        await _upgrade_then_downgrade(db.engine)
        async with db.engine.connect() as conn:
            sql = await _scalar(conn, "SELECT sql FROM sqlite_master WHERE name = :ix")
            query = (
                select(CallRecord.id)
                .where(CallRecord.code == 301, CALL_FAILED)
                .order_by(CallRecord.created_at.desc())
            )
            compiled = query.compile(conn.sync_engine, compile_kwargs={"literal_binds": True})
            plan = (await conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))).all()
            failed = (await conn.execute(query)).scalars().all()
        assert "WHERE code <> 0" in sql
        assert any("ix_call_records_code_created" in str(row) for row in plan), plan
        assert len(failed) == 1
    finally:
        await db.dispose()


async def test_postgres_upgrade_keeps_rows_and_the_code_index_is_partial(
    pg_cluster: PgCluster,
) -> None:
    name = pg_cluster.create_database("ledger_ix")
    db = Database.from_url(pg_cluster.url(name))
    try:
        await _seeded_at_before(db.engine)
        await _upgrade_then_downgrade(db.engine)
        async with db.engine.connect() as conn:
            definition = await _scalar(
                conn, "SELECT indexdef FROM pg_indexes WHERE indexname = :ix"
            )
        assert definition.endswith("WHERE (code <> 0)")
    finally:
        await db.dispose()
        pg_cluster.drop_database(name)


#: A delete of a parent row of the ledger or call records, in any form the code uses.
_PARENT_DELETE = re.compile(
    r"delete\(\s*(?:tables\.)?(?:Account|ApiToken)\b"
    r"|DELETE\s+FROM\s+(?:accounts|tokens)\b"
    r"|session\.delete\(\s*(?:account|token)\b",
    re.IGNORECASE,
)


def test_no_code_deletes_an_account_or_a_token() -> None:
    # Migration 0017 dropped the ledger's and call records' foreign keys on the ground
    # that nothing deletes their parents: whoever adds such a delete must decide what
    # happens to the account's ledger and records (and see this test fail first).
    src = Path(jditem.__file__).parent
    found = [
        f"{path.relative_to(src)}:{number}"
        for path in sorted(src.rglob("*.py"))
        if "migrations" not in path.parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _PARENT_DELETE.search(line)
    ]
    assert found == []
    assert _PARENT_DELETE.search("await conn.execute(delete(ApiToken).where(x))")
    assert _PARENT_DELETE.search('text("DELETE FROM accounts WHERE id = :a")')
