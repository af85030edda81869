"""Tables of change events (SPEC §6.3, migration 0012): events, their lists, cooldowns.

Registered on :class:`~jditem.server.store.tables.Base` when this module is imported
(:mod:`jditem.server.store.db` does, so every process that opens the store has them).
Event ids are ``evt_`` + a ULID, increasing per account in commit order
(:mod:`jditem.server.monitor.events`), so the feed pages by id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from jditem.server.store.tables import Base


class ChangeEventRow(Base):
    """A change of an account's tracked state of an item; ``body`` is the event as the
    feed shows it (JSON of :class:`jditem.protocol.monitoring.ChangeEvent`, times UTC)."""

    __tablename__ = "change_events"
    __table_args__ = (Index("ix_change_events_account_id_id", "account_id", "id"),)

    id: Mapped[str] = mapped_column(String(30), primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[str] = mapped_column(String(20))
    observed_at: Mapped[datetime]
    body: Mapped[str] = mapped_column(Text)


class ChangeEventListRow(Base):
    """A watch list that held the event's item when it happened, and whether the list's
    rules made it notify (the feed filtered by list pages through this key)."""

    __tablename__ = "change_event_lists"
    __table_args__ = (Index("ix_change_event_lists_event_id", "event_id"),)  # retention

    list_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(30), primary_key=True)
    notify: Mapped[bool] = mapped_column(Boolean)


class WatchCooldownRow(Base):
    """When a list last notified a kind for an item (the re-arm cooldown of its rules)."""

    __tablename__ = "watch_cooldowns"

    list_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    notified_at: Mapped[datetime]
