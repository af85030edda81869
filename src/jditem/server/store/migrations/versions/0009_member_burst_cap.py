"""member burst cap

Revision ID: 0009_member_burst_cap
Revises: 0007_account_members
Create Date: 2026-12-10 12:00:00

Hand-written (issue 16, item 9): an operator's cap on the burst of tokens an account's
members create, next to the rate, budget and quota caps of 0007. ``NULL`` = the burst is
capped by the rate cap alone (one second's worth of calls at the capped rate).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_member_burst_cap"
down_revision: str | None = "0008_upstream_possibly_charged"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_max_burst", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("member_max_burst")
