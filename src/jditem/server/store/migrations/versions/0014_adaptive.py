"""adaptive schedules

Revision ID: 0014_adaptive
Revises: 0013_webhooks
Create Date: 2026-12-06 12:00:00

Hand-written (issue 21, SPEC §6.4): a watch list's schedule mode (``fixed`` or
``adaptive`` between ``interval_seconds`` and ``max_interval_seconds``, with an optional
"notice within" target), and per watched item the record the adaptive policy reads —
checks, changes found, the decayed change record, the current interval — and the history
point its last check saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0014_adaptive"
down_revision: str | None = "0013_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _list_columns() -> tuple[sa.Column[Any], ...]:
    return (
        sa.Column("schedule_mode", sa.String(8), nullable=False, server_default="fixed"),
        sa.Column("max_interval_seconds", sa.Integer(), nullable=True),
        sa.Column("within_seconds", sa.Integer(), nullable=True),
    )


def _item_columns() -> tuple[sa.Column[Any], ...]:
    return (
        sa.Column("seen_seq", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("checks", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("changes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("record_changed", sa.Float(), nullable=True),
        sa.Column("record_changed_seconds", sa.Float(), nullable=True),
        sa.Column("record_quiet_seconds", sa.Float(), nullable=True),
        sa.Column("current_interval", sa.Float(), nullable=True),
    )


def upgrade() -> None:
    with op.batch_alter_table("watch_lists") as batch:
        for column in _list_columns():
            batch.add_column(column)
    with op.batch_alter_table("watch_items") as batch:
        for column in _item_columns():
            batch.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("watch_items") as batch:
        for column in reversed(_item_columns()):
            batch.drop_column(column.name)
    with op.batch_alter_table("watch_lists") as batch:
        for column in reversed(_list_columns()):
            batch.drop_column(column.name)
