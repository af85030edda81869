"""Webhook endpoints of an account (SPEC §6.3): add, find, remove, rotate, enable.

An endpoint is a URL the :class:`~.ssrf.TargetGuard` accepted when it was added (it is
vetted again before every delivery), a signing secret sealed at rest (:mod:`.sealing`;
shown to the user once, at creation and at each rotation), and filters: the watch lists
and the event kinds it receives (empty: all). It records the account member who created
it (``None``: the operator), for the console's rule on who may change it. Every function
runs in the caller's session; the API, the CLI and the console sit above
(``api/webhooks.py``, ``cli/webhook_endpoints.py``, ``console/pages/webhooks.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.protocol.monitoring import ChangeKind
from jditem.server.clock import iso_local
from jditem.server.ids import new_ulid
from jditem.server.monitor import apprise_channel, outbox
from jditem.server.monitor.sealing import SecretBox
from jditem.server.monitor.signing import EndpointSecrets, new_secret
from jditem.server.store.tables import ApiToken
from jditem.server.store.webhook_tables import (
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
)

#: The most endpoints one account may have.
MAX_ENDPOINTS = 20
#: The kind of the event ``test`` sends (never produced by a change).
TEST_KIND = "webhook.test"
KINDS = frozenset(str(kind) for kind in ChangeKind)


class EndpointError(Exception):
    """A request about webhook endpoints that cannot be done (the message says why)."""


class EndpointNotFoundError(EndpointError):
    """No such endpoint (or delivery) in the caller's account."""


def check_kinds(kinds: Sequence[str]) -> list[str]:
    """``kinds`` checked against the change kinds (deduplicated, in order)."""
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        raise EndpointError(
            f"unknown event kind(s) {', '.join(map(repr, unknown))}; choose from "
            f"{', '.join(sorted(KINDS))}"
        )
    return list(dict.fromkeys(kinds))


async def create(
    session: AsyncSession,
    box: SecretBox,
    *,
    account_id: int,
    url: str,
    lists: Sequence[int],
    kinds: Sequence[str],
    description: str,
    now: datetime,
    created_by_member_id: int | None = None,
) -> tuple[WebhookEndpointRow, SecretStr]:
    """A new endpoint (``url`` vetted by the caller) and its secret, to show once;
    ``created_by_member_id``: the member creating it (``None``: the operator)."""
    count = await session.scalar(
        select(func.count())
        .select_from(WebhookEndpointRow)
        .where(WebhookEndpointRow.account_id == account_id)
    )
    if (count or 0) >= MAX_ENDPOINTS:
        raise EndpointError(
            f"the account has {MAX_ENDPOINTS} webhook endpoints, the most it may have; "
            "remove one first"
        )
    secret = new_secret()
    row = WebhookEndpointRow(
        account_id=account_id,
        url=url,
        description=description,
        secret_sealed=box.seal(secret),
        lists=sorted(set(lists)),
        kinds=check_kinds(kinds),
        enabled=True,
        created_at=now,
        created_by_member_id=created_by_member_id,
    )
    session.add(row)
    await session.flush()
    return row, secret


async def token_creator(session: AsyncSession, token_id: int) -> int | None:
    """The member who created token ``token_id`` (``None``: the operator): the creator of
    an endpoint added through the API with that token."""
    found = await session.scalar(
        select(ApiToken.created_by_member_id).where(ApiToken.id == token_id)
    )
    return int(found) if found is not None else None


async def find(session: AsyncSession, account_id: int, endpoint_id: int) -> WebhookEndpointRow:
    """The account's endpoint ``endpoint_id`` (:class:`EndpointNotFoundError` otherwise)."""
    row = await session.get(WebhookEndpointRow, endpoint_id)
    if row is None or row.account_id != account_id:
        raise EndpointNotFoundError(
            f"no webhook endpoint {endpoint_id} in this account; 'jditem webhooks list' "
            "shows its endpoints"
        )
    return row


async def of_account(session: AsyncSession, account_id: int) -> Sequence[WebhookEndpointRow]:
    """The account's endpoints, oldest first."""
    result = await session.scalars(
        select(WebhookEndpointRow)
        .where(WebhookEndpointRow.account_id == account_id)
        .order_by(WebhookEndpointRow.id)
    )
    return result.all()


async def remove(session: AsyncSession, row: WebhookEndpointRow) -> None:
    """Delete the endpoint with its deliveries and their attempt log.

    The endpoint's row is locked first (PostgreSQL; SQLite has one writer): a dispatcher
    recording an attempt and an event enqueueing a delivery lock it too
    (:func:`lock_for_attempt`, :func:`.outbox.enqueue`), so each either finishes before
    the removal reads what to delete, or finds the endpoint gone — never a row pointing
    at a deleted one.
    """
    await session.execute(
        select(WebhookEndpointRow.id).where(WebhookEndpointRow.id == row.id).with_for_update()
    )
    deliveries = select(WebhookDeliveryRow.id).where(WebhookDeliveryRow.endpoint_id == row.id)
    await session.execute(
        delete(WebhookAttemptRow).where(WebhookAttemptRow.delivery_id.in_(deliveries))
    )
    await session.execute(
        delete(WebhookDeliveryRow).where(WebhookDeliveryRow.endpoint_id == row.id)
    )
    await session.execute(delete(WebhookEndpointRow).where(WebhookEndpointRow.id == row.id))


async def lock_for_attempt(session: AsyncSession, endpoint_id: int) -> bool:
    """Lock the endpoint's row while an attempt is recorded (it may be disabled in the
    same transaction); False when it was removed meanwhile (see :func:`remove`)."""
    found = await session.execute(
        select(WebhookEndpointRow.id)
        .where(WebhookEndpointRow.id == endpoint_id)
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE: events may still enqueue
    )
    return found.first() is not None


def secrets_of(box: SecretBox, row: WebhookEndpointRow) -> EndpointSecrets:
    """The endpoint's signing secrets, unsealed."""
    previous = box.unseal(row.previous_sealed) if row.previous_sealed else None
    return EndpointSecrets(box.unseal(row.secret_sealed), previous, row.previous_until)


async def rotate(
    session: AsyncSession,
    box: SecretBox,
    row: WebhookEndpointRow,
    now: datetime,
    overlap: timedelta,
) -> tuple[SecretStr, datetime | None]:
    """A new secret for ``row``; the current one keeps signing until ``now + overlap``.

    Returns the new secret (to show once) and the end of the overlap (None: none).
    """
    state, fresh = secrets_of(box, row).rotate(now, overlap)
    values = {
        "secret_sealed": box.seal(state.current),
        "previous_sealed": box.seal(state.previous) if state.previous is not None else None,
        "previous_until": state.previous_until,
    }
    await session.execute(
        update(WebhookEndpointRow).where(WebhookEndpointRow.id == row.id).values(**values)
    )
    return fresh, state.previous_until


async def enable(session: AsyncSession, row: WebhookEndpointRow) -> None:
    """Enable a disabled endpoint: its pending deliveries go out again."""
    await session.execute(
        update(WebhookEndpointRow)
        .where(WebhookEndpointRow.id == row.id)
        .values(enabled=True, disabled_reason=None, disabled_at=None)
    )


async def send_test(session: AsyncSession, row: WebhookEndpointRow, now: datetime) -> str:
    """Queue a :data:`TEST_KIND` event for ``row`` alone (delivered like any event, so it
    shows in the endpoint's delivery log); returns its ``webhook-id``. A disabled
    endpoint is refused (:class:`EndpointError`): it would never be sent."""
    if not row.enabled:
        raise EndpointError(
            f"webhook endpoint {row.id} is disabled ({row.disabled_reason}); enable it first"
        )
    event_id = "evt_" + new_ulid(int(now.timestamp() * 1000))
    data = {"id": event_id, "endpointId": row.id, "message": "a test event from jditem"}
    payload = outbox.message(TEST_KIND, now, data)
    connection = await session.connection()
    await connection.run_sync(
        outbox.enqueue,
        row.account_id,
        event_id,
        (),
        (TEST_KIND,),
        payload,
        now=now,
        endpoint_id=row.id,
    )
    return event_id


def wire(row: WebhookEndpointRow, list_names: dict[int, str], zone: str) -> dict[str, Any]:
    """The endpoint as the API shows it (never a secret)."""

    def when(value: datetime | None) -> str | None:
        return iso_local(value, zone) if value is not None else None

    return {
        "id": row.id,
        "url": apprise_channel.shown(row.url) if apprise_channel.is_apprise(row.url) else row.url,
        "description": row.description,
        "lists": [list_names.get(list_id, f"#{list_id}") for list_id in row.lists or []],
        "kinds": list(row.kinds or []),
        "enabled": row.enabled,
        "disabledReason": row.disabled_reason,
        "disabledAt": when(row.disabled_at),
        "previousSecretUntil": when(row.previous_until),
        "createdAt": when(row.created_at),
    }


def delivery_wire(
    row: WebhookDeliveryRow, attempts: Sequence[WebhookAttemptRow], zone: str
) -> dict[str, Any]:
    """A delivery and its attempt log as the API shows them."""
    return {
        "id": row.id,
        "endpointId": row.endpoint_id,
        "webhookId": row.event_id,
        "type": row.event_type,
        "status": row.status,
        "attempts": row.attempts,
        "nextAttemptAt": (
            iso_local(row.next_attempt_at, zone) if row.status == "pending" else None
        ),
        "lastStatus": row.last_status,
        "lastError": row.last_error,
        "createdAt": iso_local(row.created_at, zone),
        "log": [
            {
                "at": iso_local(a.at, zone),
                "status": a.status_code,
                "latencyMs": a.latency_ms,
                "error": a.error_kind,
                "detail": a.detail,
                "excerpt": a.excerpt,
            }
            for a in attempts
        ],
    }


async def deliveries(
    session: AsyncSession, endpoint_id: int, limit: int, *, before: int | None = None
) -> list[tuple[WebhookDeliveryRow, list[WebhookAttemptRow]]]:
    """The endpoint's newest ``limit`` deliveries (older than the id ``before`` when
    given), newest first, each with its attempts (oldest first)."""
    query = select(WebhookDeliveryRow).where(WebhookDeliveryRow.endpoint_id == endpoint_id)
    if before is not None:
        query = query.where(WebhookDeliveryRow.id < before)
    rows = (await session.scalars(query.order_by(WebhookDeliveryRow.id.desc()).limit(limit))).all()
    logs: dict[int, list[WebhookAttemptRow]] = {row.id: [] for row in rows}
    if rows:
        found = await session.scalars(
            select(WebhookAttemptRow)
            .where(WebhookAttemptRow.delivery_id.in_(logs))
            .order_by(WebhookAttemptRow.id)
        )
        for attempt in found:
            logs[attempt.delivery_id].append(attempt)
    return [(row, logs[row.id]) for row in rows]


async def find_delivery(
    session: AsyncSession, account_id: int, delivery_id: int
) -> WebhookDeliveryRow:
    """The account's delivery ``delivery_id`` (:class:`EndpointNotFoundError` otherwise)."""
    row = await session.get(WebhookDeliveryRow, delivery_id)
    if row is None or row.account_id != account_id:
        raise EndpointNotFoundError(f"no webhook delivery {delivery_id} in this account")
    return row
