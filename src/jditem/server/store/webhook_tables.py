"""Tables of webhook delivery (SPEC §6.3, migration 0013): endpoints, the outbox, attempts.

Registered on :class:`~jditem.server.store.tables.Base` when this module is imported
(:mod:`jditem.server.store.db` does, so every process that opens the store has them).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from jditem.server.store.tables import Base


class WebhookEndpointRow(Base):
    """An account's webhook endpoint: where its change events go, signed with its secret.

    The secrets are sealed (:mod:`jditem.server.monitor.sealing`); during a rotation's
    overlap the previous one signs too, until ``previous_until``. ``lists`` (watch list
    ids) and ``kinds`` select the events; empty selects all. ``busy_owner`` /
    ``busy_until`` is the lease of the one dispatcher process delivering to it now (one
    delivery in flight per endpoint, across every process). ``created_by_member_id`` is
    the account member who created it (migration 0015; ``None``: the operator, or made
    before the column was), which the console's token rule reads.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(200), default="")
    secret_sealed: Mapped[str] = mapped_column(Text)
    previous_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    previous_until: Mapped[datetime | None] = mapped_column(nullable=True)
    lists: Mapped[list[int]] = mapped_column(JSON)
    kinds: Mapped[list[str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    busy_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    busy_until: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    created_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id"), nullable=True, index=True
    )


class WebhookDeliveryRow(Base):
    """One event to one endpoint (the outbox): written in the event's transaction.

    ``event_id`` is the ``webhook-id`` of every attempt; ``body`` the exact bytes sent
    (as text). ``status``: ``pending`` until a 2xx (``delivered``) or until it gives up
    (``failed``: a 410, or the retries ran out). A pending row is due at
    ``next_attempt_at`` (indexed with ``status``: the dispatcher's pick is O(due)).
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"))
    account_id: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class WebhookAttemptRow(Base):
    """One delivery attempt as it went (the delivery log; holds no secret)."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[int] = mapped_column(Integer)
    excerpt: Mapped[str] = mapped_column(Text, default="")
    error_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
