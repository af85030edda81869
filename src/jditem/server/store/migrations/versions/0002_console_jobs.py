"""console bulk jobs

Revision ID: 0002_console_jobs
Revises: 0001_initial
Create Date: 2026-11-28 03:30:00

Hand-written: the ``bulk_jobs`` and ``bulk_job_items`` tables of the console's
bulk jobs (``jditem.server.store.tables.BulkJob`` / ``BulkJobItem``), and a covering
index on ``ledger (account_id, kind, amount)`` for the console's ledger totals.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_console_jobs"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bulk_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["token_id"], ["tokens.id"], name=op.f("fk_bulk_jobs_token_id_tokens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_jobs")),
    )
    with op.batch_alter_table("bulk_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bulk_jobs_token_id"), ["token_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bulk_jobs_created_at"), ["created_at"], unique=False)

    op.create_table(
        "bulk_job_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("code", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("task_id", sa.String(length=40), nullable=True),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("charged", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["bulk_jobs.id"], name=op.f("fk_bulk_job_items_job_id_bulk_jobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_job_items")),
        sa.UniqueConstraint("job_id", "position", name=op.f("uq_bulk_job_items_job_id")),
    )
    with op.batch_alter_table("bulk_job_items", schema=None) as batch_op:
        batch_op.create_index("ix_bulk_job_items_job_state", ["job_id", "state"], unique=False)
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_account_kind_amount", ["account_id", "kind", "amount"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_account_kind_amount")
    with op.batch_alter_table("bulk_job_items", schema=None) as batch_op:
        batch_op.drop_index("ix_bulk_job_items_job_state")
    op.drop_table("bulk_job_items")
    with op.batch_alter_table("bulk_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bulk_jobs_created_at"))
        batch_op.drop_index(batch_op.f("ix_bulk_jobs_token_id"))
    op.drop_table("bulk_jobs")
