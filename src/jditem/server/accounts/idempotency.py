"""Idempotency keys (the ``Idempotency-Key`` header of the v2 endpoint).

A token's charged call may carry a key; the key row (token, key, item, requestId of the
charge) is written in the SAME transaction as the charge, so "charged" and "key
recorded" can never disagree. A later call of the same token with the same key:

* for the same item, while the row is younger than ``idempotency_ttl_seconds`` — is
  served free (a *replay*: no ledger row, no spend, no balance change);
* for another item — is refused with 400.

Rows older than the TTL are ignored (a new charge under the key replaces them) and
deleted now and then by the charge batcher. The key is written and checked with the
charge (:mod:`.charge_sql`, :mod:`.charge_plan`); :func:`lookup` is admission's early
check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.server.store.tables import IdempotencyKey

#: How often (seconds) expired key rows are deleted, at most.
PURGE_INTERVAL_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class KeyUse:
    """An earlier, still valid use of a key: the item it was charged for and the call."""

    item_id: str
    request_id: str


async def lookup(session: AsyncSession, token_id: int, key: str, since: datetime) -> KeyUse | None:
    """The valid use of ``key`` by ``token_id`` (row created at or after ``since``)."""
    row = (
        await session.execute(
            select(IdempotencyKey.item_id, IdempotencyKey.request_id).where(
                IdempotencyKey.token_id == token_id,
                IdempotencyKey.key == key,
                IdempotencyKey.created_at >= since,
            )
        )
    ).first()
    return KeyUse(row[0], row[1]) if row is not None else None
