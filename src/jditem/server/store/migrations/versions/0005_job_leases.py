"""bulk job leases

Revision ID: 0005_job_leases
Revises: 0003_idempotency_keys
Create Date: 2026-12-03 08:30:00

Hand-written: ``bulk_jobs.lease_owner`` / ``lease_expires_at``
(``jditem.server.store.tables.BulkJob``) — the process driving a console bulk job
holds a lease on it, renewed while it runs; another process takes over a job whose
lease expired (its driver died).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_job_leases"
down_revision: str | None = "0004_console_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bulk_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("bulk_jobs", schema=None) as batch_op:
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("lease_owner")
