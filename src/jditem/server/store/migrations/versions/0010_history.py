"""item history

Revision ID: 0010_history
Revises: 0009_member_burst_cap
Create Date: 2026-12-06 09:00:00

Hand-written (issue 19, SPEC §6.1): ``item_history`` holds the change points of each
(account, item): a new row when the tracked state changes, else the current row's
``last_confirmed_at`` moves. The unique key (account_id, item_id, seq) is both the index
that reads one item's history of one account in order and the guard against two writers
appending the same point.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_history"
down_revision: str | None = "0009_member_burst_cap"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "item_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(length=20), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_item_history_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_history")),
        sa.UniqueConstraint(
            "account_id", "item_id", "seq", name=op.f("uq_item_history_account_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("item_history")
