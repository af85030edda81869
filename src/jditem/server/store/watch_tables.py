"""Tables of watch lists (SPEC §6.2, migration 0011): lists, their items, their spend.

Registered on :class:`~jditem.server.store.tables.Base` when this module is imported
(:mod:`jditem.server.store.db` does, so every process that opens the store has them).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from jditem.server.store.tables import Base


class WatchListRow(Base):
    """A watch list: an account's items checked every ``interval_seconds`` under one of
    its tokens, within ``daily_budget`` units per local day of the server's time zone."""

    __tablename__ = "watch_lists"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    interval_seconds: Mapped[int] = mapped_column(Integer)
    daily_budget: Mapped[int] = mapped_column(BigInteger)  # minor units
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    #: list_budget | token_budget | quota | balance | token | user (PausedReason)
    paused_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: Which changes notify: JSON of WatchRules (camelCase); None = the defaults (0012).
    rules: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WatchItemRow(Base):
    """One item of a watch list and its schedule.

    ``active`` mirrors "the list is not paused" so the scheduler's pick — active items
    whose ``next_check_at`` has come, oldest first — walks one index and touches only
    due rows (O(due), not O(watched)). ``account_id`` and ``item_id`` find the
    account's other lists holding the item: one check serves them all.
    """

    __tablename__ = "watch_items"
    __table_args__ = (
        UniqueConstraint("list_id", "item_id"),
        Index("ix_watch_items_due", "active", "next_check_at"),
        Index("ix_watch_items_account_item", "account_id", "item_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("watch_lists.id"))
    account_id: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    next_check_at: Mapped[datetime]
    last_checked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    #: The code of the item's last check (0, 202, 102, ...), None before the first.
    last_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    added_at: Mapped[datetime]


class WatchSpendRow(Base):
    """What a list's checks were charged on one local day (written with each charge,
    guarded: ``spent + price <= daily_budget``), and how many were charged."""

    __tablename__ = "watch_spend"

    list_id: Mapped[int] = mapped_column(ForeignKey("watch_lists.id"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    spent: Mapped[int] = mapped_column(BigInteger, default=0)
    checks: Mapped[int] = mapped_column(Integer, default=0)


class SingletonLease(Base):
    """A role only one process of a deployment may play at a time (the watch scheduler):
    held by ``owner`` until ``expires_at``, renewed while it lives."""

    __tablename__ = "singleton_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
