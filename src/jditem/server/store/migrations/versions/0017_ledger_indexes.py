"""fewer index entries per charged call

Revision ID: 0017_ledger_indexes
Revises: 0016_charge_function
Create Date: 2026-12-06 18:40:00

Hand-written (issue 22, aim 1): every charged call writes a ledger row and a call
record, and every index entry of those rows is PostgreSQL (or SQLite writer) CPU per
call. Two ledger indexes have no reader and go: ``ix_ledger_token_id`` (nothing filters
or joins the ledger by token; tokens are never deleted, so the foreign key needs no
referencing index) and ``ix_ledger_created_at`` (nothing orders or prunes the ledger by
time; it is listed by id). ``ix_call_records_code_created`` becomes partial, ``WHERE
code <> 0``: its readers — the console's ``?code=`` filter for a failure code, its CSV
export and the overview's recent failures — all ask for a code other than 0, and a
successful call (most of them) no longer adds an entry.
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


def upgrade() -> None:
    op.drop_index("ix_ledger_token_id", table_name="ledger")
    op.drop_index("ix_ledger_created_at", table_name="ledger")
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
    op.create_index("ix_ledger_created_at", "ledger", ["created_at"])
    op.create_index("ix_ledger_token_id", "ledger", ["token_id"])
