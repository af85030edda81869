"""The webhook outbox (SPEC §6.3): delivery rows written in the event's own transaction.

:func:`enqueue` is the one way in. The change-event writer calls it on its connection,
inside the transaction that stores the event, so an event and its deliveries commit
together or not at all — a crash between "event stored" and "webhook sent" loses
nothing: the row waits in ``webhook_deliveries`` until a dispatcher
(:mod:`~jditem.server.jobs.webhook_dispatcher`) delivers it. :func:`replay` puts a
finished delivery back as a new pending row with the same ``webhook-id`` (receivers
deduplicate on it).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from jditem.server.store.webhook_tables import WebhookDeliveryRow, WebhookEndpointRow

__all__ = ["PENDING", "enqueue", "matches", "replay"]

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def matches(
    endpoint_lists: Collection[int | str],
    endpoint_kinds: Collection[str],
    lists: Collection[int | str],
    kinds: Collection[str],
) -> bool:
    """True when an endpoint's filters select an event (an empty filter selects all).

    List ids compare as text (the wire models carry them as text, the tables as numbers).
    """
    list_ok = not endpoint_lists or bool({str(i) for i in endpoint_lists} & {str(i) for i in lists})
    kind_ok = not endpoint_kinds or bool(set(endpoint_kinds) & set(kinds))
    return list_ok and kind_ok


def body_text(payload: Mapping[str, Any]) -> str:
    """The exact text every attempt of a delivery sends (compact JSON, UTF-8)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


#: The ``type`` of a change event's webhook message.
CHANGE_TYPE = "item.changed"


def message(kind: str, at: datetime, data: Mapping[str, Any]) -> dict[str, Any]:
    """A webhook body as the Standard Webhooks specification shapes it: ``type``,
    ``timestamp`` (ISO 8601, UTC, milliseconds) and ``data``."""
    stamp = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"type": kind, "timestamp": stamp, "data": dict(data)}


def enqueue(
    connection: Connection,
    account_id: int,
    event_id: str,
    lists: Collection[int | str],
    kinds: Collection[str],
    payload: Mapping[str, Any],
    *,
    now: datetime,
    endpoint_id: int | None = None,
) -> int:
    """One pending delivery of ``payload`` per enabled endpoint of ``account_id`` whose
    filters select the event (``lists``: the watch list ids it notifies; ``kinds``);
    ``endpoint_id`` targets that one endpoint whatever its filters (a test event).

    Runs on ``connection`` in the caller's transaction; returns the rows written.
    ``event_id`` becomes the ``webhook-id`` of every attempt.
    """
    query = (
        select(WebhookEndpointRow.id, WebhookEndpointRow.lists, WebhookEndpointRow.kinds)
        .where(WebhookEndpointRow.account_id == account_id, WebhookEndpointRow.enabled)
        .order_by(WebhookEndpointRow.id)
        # FOR KEY SHARE (PostgreSQL): an endpoint being removed is waited for and then
        # skipped, never written a delivery it cannot hold (endpoints.remove)
        .with_for_update(read=True, key_share=True)
    )
    if endpoint_id is not None:
        query = query.where(WebhookEndpointRow.id == endpoint_id)
    chosen = [
        row.id
        for row in connection.execute(query)
        if endpoint_id is not None or matches(row.lists or [], row.kinds or [], lists, kinds)
    ]
    if not chosen:
        return 0
    text = body_text(payload)
    kind = str(payload.get("type", "change"))[:40]
    connection.execute(
        insert(WebhookDeliveryRow),
        [
            {
                "endpoint_id": chosen_id,
                "account_id": account_id,
                "event_id": event_id,
                "event_type": kind,
                "body": text,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for chosen_id in chosen
        ],
    )
    return len(chosen)


def replay(connection: Connection, delivery: WebhookDeliveryRow, now: datetime) -> int:
    """A new pending delivery repeating ``delivery`` (same endpoint, ``webhook-id`` and
    body), due now; returns its id. The original keeps its status and attempts."""
    result = connection.execute(
        insert(WebhookDeliveryRow)
        .values(
            endpoint_id=delivery.endpoint_id,
            account_id=delivery.account_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            body=delivery.body,
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        .returning(WebhookDeliveryRow.id)
    )
    return int(result.scalar_one())
