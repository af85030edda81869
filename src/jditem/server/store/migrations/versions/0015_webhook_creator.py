"""webhook endpoint creator

Revision ID: 0015_webhook_creator
Revises: 0014_adaptive
Create Date: 2026-12-06 15:00:00

Hand-written (issue 20, SPEC §6.3): a webhook endpoint records the account member who
created it (in the console, or through the API with a token that member created), so the
console lets that member change it as it lets a member change its own tokens. ``NULL``:
the operator's, or made before this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_webhook_creator"
down_revision: str | None = "0014_adaptive"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by_member_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_webhook_endpoints_created_by_member_id"),
            ["created_by_member_id"],
            unique=False,
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_webhook_endpoints_created_by_member_id_members"),
            "members",
            ["created_by_member_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_webhook_endpoints_created_by_member_id_members"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_webhook_endpoints_created_by_member_id"))
        batch_op.drop_column("created_by_member_id")
