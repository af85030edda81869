"""account members

Revision ID: 0007_account_members
Revises: 0006_relay_upstream
Create Date: 2026-12-03 12:00:00

Hand-written (SPEC §2.9): the ``members`` table (people who sign in to the console for
one account), the member a console session belongs to, the caps an operator sets on
the tokens an account's members create, who created a token, and the indexes an
account-scoped console reads call records through.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_account_members"
down_revision: str | None = "0006_relay_upstream"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("setup_hash", sa.String(length=64), nullable=True),
        sa.Column("setup_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_members_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint("email", name=op.f("uq_members_email")),
        sa.UniqueConstraint("setup_hash", name=op.f("uq_members_setup_hash")),
    )
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_members_account_id"), ["account_id"], unique=False)
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_max_budget", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("member_max_rate_limit", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("member_max_daily_quota", sa.Integer(), nullable=True))
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by_member_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_tokens_created_by_member_id"), ["created_by_member_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_tokens_created_by_member_id_members"),
            "members",
            ["created_by_member_id"],
            ["id"],
        )
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("public_id", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("client_address", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("user_agent", sa.String(length=200), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_console_sessions_member_id"), ["member_id"], unique=False
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_console_sessions_public_id"), ["public_id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_console_sessions_member_id_members"), "members", ["member_id"], ["id"]
        )
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_call_records_account_created", ["account_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_call_records_account_task", ["account_id", "task_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.drop_index("ix_call_records_account_task")
        batch_op.drop_index("ix_call_records_account_created")
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_console_sessions_member_id_members"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_console_sessions_public_id"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_console_sessions_member_id"))
        batch_op.drop_column("user_agent")
        batch_op.drop_column("client_address")
        batch_op.drop_column("public_id")
        batch_op.drop_column("member_id")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_tokens_created_by_member_id_members"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_tokens_created_by_member_id"))
        batch_op.drop_column("created_by_member_id")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("member_max_daily_quota")
        batch_op.drop_column("member_max_rate_limit")
        batch_op.drop_column("member_max_budget")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_members_account_id"))
    op.drop_table("members")
