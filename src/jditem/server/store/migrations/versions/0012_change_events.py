"""change events

Revision ID: 0012_change_events
Revises: 0011_watch_lists
Create Date: 2026-12-06 12:00:00

Hand-written (issue 20, SPEC §6.3): change events, the lists each one concerned (and
whether their rules notified), the re-arm cooldowns of the rules, and the rules of a
watch list (JSON text; null = the defaults).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_change_events"
down_revision: str | None = "0011_watch_lists"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "change_events",
        sa.Column("id", sa.String(length=30), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(length=20), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_events")),
    )
    with op.batch_alter_table("change_events", schema=None) as batch_op:
        batch_op.create_index("ix_change_events_account_id_id", ["account_id", "id"], unique=False)
    op.create_table(
        "change_event_lists",
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=30), nullable=False),
        sa.Column("notify", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("list_id", "event_id", name=op.f("pk_change_event_lists")),
    )
    with op.batch_alter_table("change_event_lists", schema=None) as batch_op:
        batch_op.create_index("ix_change_event_lists_event_id", ["event_id"], unique=False)
    op.create_table(
        "watch_cooldowns",
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("list_id", "item_id", "kind", name=op.f("pk_watch_cooldowns")),
    )
    with op.batch_alter_table("watch_lists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rules", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("watch_lists", schema=None) as batch_op:
        batch_op.drop_column("rules")
    op.drop_table("watch_cooldowns")
    with op.batch_alter_table("change_event_lists", schema=None) as batch_op:
        batch_op.drop_index("ix_change_event_lists_event_id")
    op.drop_table("change_event_lists")
    with op.batch_alter_table("change_events", schema=None) as batch_op:
        batch_op.drop_index("ix_change_events_account_id_id")
    op.drop_table("change_events")
