"""Wire models of the webhook endpoint API (SPEC §6.3): ``/api/webhooks``.

What ``client.webhooks`` returns. A signing secret travels as
:class:`~pydantic.SecretStr` (its ``repr`` hides it): it is in the answer of ``add`` and
``rotate`` only, and shown once.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, SecretStr

from jditem.protocol.monitoring import WireModel

__all__ = [
    "NewWebhookSecret",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]


class WebhookEndpoint(WireModel):
    """An endpoint: where the account's change events go, which, and its state."""

    id: int
    url: str
    description: str = ""
    lists: list[str] = Field(default_factory=list)  # watch list names; empty: all
    kinds: list[str] = Field(default_factory=list)  # event kinds; empty: all
    enabled: bool = True
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    #: Until when the previous secret signs too (after a rotation), else None.
    previous_secret_until: datetime | None = None
    created_at: datetime | None = None


class NewWebhookSecret(WireModel):
    """A signing secret as ``add`` and ``rotate`` show it, once."""

    id: int
    secret: SecretStr
    previous_secret_until: datetime | None = None


class WebhookAttempt(WireModel):
    """One attempt of a delivery: when, the receiver's status (None: no answer), how
    long, and when it failed, why (``error``: refused, dns, connect, tls, timeout,
    protocol, redirect, status)."""

    at: datetime
    status: int | None = None
    latency_ms: int = 0
    error: str | None = None
    detail: str = ""
    excerpt: str = ""


class WebhookDelivery(WireModel):
    """One event to one endpoint and its attempts (``webhook_id`` on every one)."""

    id: int
    endpoint_id: int
    webhook_id: str
    type: str
    status: str  # pending | delivered | failed
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    created_at: datetime | None = None
    log: list[WebhookAttempt] = Field(default_factory=list)
