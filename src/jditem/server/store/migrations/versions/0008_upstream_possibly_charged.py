"""relay: possibly charged upstream calls and their failure labels

Revision ID: 0008_upstream_possibly_charged
Revises: 0007_account_members
Create Date: 2026-12-10 09:00:00

Hand-written (SPEC §5): ``upstream_calls.possibly_charged`` marks an ambiguous upstream
call (the request was sent and no complete answer came back: it may have been charged),
and ``upstream_calls.failure`` names what went wrong when no envelope came back ("read
timeout", "connection lost", "body too large", ...). Existing rows were recorded before
the distinction: they stay ``possibly_charged = false`` with no label.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_upstream_possibly_charged"
down_revision: str | None = "0007_account_members"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("upstream_calls", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("possibly_charged", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("failure", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("upstream_calls", schema=None) as batch_op:
        batch_op.drop_column("failure")
        batch_op.drop_column("possibly_charged")
