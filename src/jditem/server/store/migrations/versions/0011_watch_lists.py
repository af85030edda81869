"""watch lists

Revision ID: 0011_watch_lists
Revises: 0009_member_burst_cap
Create Date: 2026-12-06 09:00:00

Hand-written (issue 19, SPEC §6.2): watch lists, their items (with the due index the
scheduler picks through), their spend per local day, the singleton lease of the
scheduler, and the watch list a call record was made for.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_watch_lists"
down_revision: str | None = "0010_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "watch_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("daily_budget", sa.BigInteger(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("paused_reason", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_watch_lists_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["token_id"], ["tokens.id"], name=op.f("fk_watch_lists_token_id_tokens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_lists")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_watch_lists_account_id")),
    )
    with op.batch_alter_table("watch_lists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_watch_lists_token_id"), ["token_id"], unique=False)
    op.create_table(
        "watch_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_code", sa.Integer(), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["watch_lists.id"], name=op.f("fk_watch_items_list_id_watch_lists")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_items")),
        sa.UniqueConstraint("list_id", "item_id", name=op.f("uq_watch_items_list_id")),
    )
    with op.batch_alter_table("watch_items", schema=None) as batch_op:
        batch_op.create_index("ix_watch_items_due", ["active", "next_check_at"], unique=False)
        batch_op.create_index(
            "ix_watch_items_account_item", ["account_id", "item_id"], unique=False
        )
    op.create_table(
        "watch_spend",
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["watch_lists.id"], name=op.f("fk_watch_spend_list_id_watch_lists")
        ),
        sa.PrimaryKeyConstraint("list_id", "day", name=op.f("pk_watch_spend")),
    )
    op.create_table(
        "singleton_leases",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_singleton_leases")),
    )
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("watch_list_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.drop_column("watch_list_id")
    op.drop_table("singleton_leases")
    op.drop_table("watch_spend")
    with op.batch_alter_table("watch_items", schema=None) as batch_op:
        batch_op.drop_index("ix_watch_items_account_item")
        batch_op.drop_index("ix_watch_items_due")
    op.drop_table("watch_items")
    with op.batch_alter_table("watch_lists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_watch_lists_token_id"))
    op.drop_table("watch_lists")
