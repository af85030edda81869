"""fewer index entries and no foreign-key checks per charged call

Revision ID: 0017_ledger_indexes
Revises: 0016_charge_function
Create Date: 2026-12-06 18:40:00

Hand-written (issue 22, aim 1): every charged call writes a ledger row and a call
record, and every index entry of those rows is PostgreSQL (or SQLite writer) CPU per
call. Two ledger indexes have no reader and go: ``ix_ledger_token_id`` (nothing filters
or joins the ledger by token) and ``ix_ledger_created_at`` (nothing orders or prunes the ledger by
time; it is listed by id). ``ix_call_records_code_created`` becomes partial, ``WHERE
code <> 0``: its readers — the console's ``?code=`` filter for a failure code, its CSV
export and the overview's recent failures — all ask for a code other than 0, and a
successful call (most of them) no longer adds an entry.

The four foreign keys of ``ledger`` and ``call_records`` (to ``accounts`` and ``tokens``)
go too: on PostgreSQL each is an after-trigger per inserted row running a ``SELECT …
FOR KEY SHARE`` of the parent — measured 12–24 µs of PostgreSQL CPU per charged call
(benchmarks/README.md). What they guarded holds without them: every writer of a charged
row locks and reads the token and account rows it charges in the same transaction
(``jditem_charge_batch``, ``charge_plan.apply_batch``; a top-up updates its account
row), a call record's token is one its request resolved (or NULL), and no code deletes
a token or an account or changes an id. On SQLite, dropping a foreign key rebuilds the
table (Alembic batch mode copies ``ledger`` and ``call_records`` once, at upgrade).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_ledger_indexes"
down_revision: str | None = "0016_charge_function"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FAILED = sa.text("code <> 0")

#: The foreign keys dropped: (table, column, parent table).
_FOREIGN_KEYS = (
    ("ledger", "account_id", "accounts"),
    ("ledger", "token_id", "tokens"),
    ("call_records", "account_id", "accounts"),
    ("call_records", "token_id", "tokens"),
)


def upgrade() -> None:
    op.drop_index("ix_ledger_token_id", table_name="ledger")
    op.drop_index("ix_ledger_created_at", table_name="ledger")
    for table in ("ledger", "call_records"):  # SQLite: one rebuild per table
        with op.batch_alter_table(table) as batch_op:
            for name, column, parent in _FOREIGN_KEYS:
                if name == table:
                    batch_op.drop_constraint(f"fk_{table}_{column}_{parent}", type_="foreignkey")
    op.drop_index("ix_call_records_code_created", table_name="call_records")
    op.create_index(
        "ix_call_records_code_created",
        "call_records",
        ["code", "created_at"],
        postgresql_where=_FAILED,
        sqlite_where=_FAILED,
    )


def downgrade() -> None:
    op.drop_index("ix_call_records_code_created", table_name="call_records")
    op.create_index("ix_call_records_code_created", "call_records", ["code", "created_at"])
    for table in ("ledger", "call_records"):
        with op.batch_alter_table(table) as batch_op:
            for name, column, parent in _FOREIGN_KEYS:
                if name == table:
                    batch_op.create_foreign_key(
                        f"fk_{table}_{column}_{parent}", parent, [column], ["id"]
                    )
    op.create_index("ix_ledger_created_at", "ledger", ["created_at"])
    op.create_index("ix_ledger_token_id", "ledger", ["token_id"])
