"""relay upstream accounting and task backoff

Revision ID: 0006_relay_upstream
Revises: 0003_idempotency_keys
Create Date: 2026-12-03 08:30:00

Hand-written: ``tasks.not_before`` (backoff between collection attempts), and the
relay collector's ``upstream_calls`` and ``upstream_events`` tables
(``jditem.server.store.tables.UpstreamCall`` / ``UpstreamEvent``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_relay_upstream"
down_revision: str | None = "0005_job_leases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "upstream_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("item_id", sa.String(length=20), nullable=False),
        sa.Column("endpoint", sa.String(length=8), nullable=False),
        sa.Column("code", sa.Integer(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("upstream_request_id", sa.String(length=64), nullable=True),
        sa.Column("charged", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstream_calls")),
    )
    with op.batch_alter_table("upstream_calls", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_upstream_calls_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_upstream_calls_item_id"), ["item_id"], unique=False)
    op.create_table(
        "upstream_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("code", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstream_events")),
    )
    with op.batch_alter_table("upstream_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_upstream_events_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("upstream_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_upstream_events_created_at"))
    op.drop_table("upstream_events")
    with op.batch_alter_table("upstream_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_upstream_calls_item_id"))
        batch_op.drop_index(batch_op.f("ix_upstream_calls_created_at"))
    op.drop_table("upstream_calls")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("not_before")
