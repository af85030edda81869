"""Reading an account's change events in order (SPEC §6.3): the pull feed's pages.

Events are read by id (``evt_`` + ULID, increasing per account in commit order:
:mod:`.events`), after a cursor — the id of the last event a reader got — so paging is
one index range per page and a reader that resumes from its cursor gets every later
event once. A list's feed pages through ``change_event_lists`` (key list, event); it
starts at the list's creation, so a list that reuses a deleted one's id never shows the
old list's events.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from jditem.protocol.monitoring import ChangeEvent
from jditem.server.clock import as_utc
from jditem.server.ids import EVENT_ID_PREFIX, event_id_floor
from jditem.server.store.event_tables import ChangeEventListRow, ChangeEventRow

__all__ = ["CURSOR", "DEFAULT_LIMIT", "MAX_LIMIT", "floor_id", "latest", "read_page"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: A cursor: an event id.
CURSOR = re.compile(EVENT_ID_PREFIX + r"[0-9A-HJKMNP-TV-Z]{26}")


def floor_id(at: datetime) -> str:
    """The lowest event id of the millisecond ``at`` (every event from ``at`` on sorts after)."""
    return event_id_floor(int(as_utc(at).timestamp() * 1000))


async def read_page(
    session: AsyncSession,
    account_id: int,
    *,
    after: str | None,
    limit: int,
    list_id: int | None = None,
    list_since: str | None = None,
) -> tuple[Sequence[ChangeEvent], bool]:
    """Up to ``limit`` of the account's events after the id ``after`` (None: the oldest
    kept), by id, and whether more follow; only those of ``list_id`` when given (from the
    id ``list_since`` on)."""
    e = ChangeEventRow
    query = _of(account_id, list_id, list_since)
    if after is not None:
        query = query.where(e.id > after)
    bodies = (await session.scalars(query.order_by(e.id).limit(limit + 1))).all()
    events = [ChangeEvent.model_validate_json(body) for body in bodies[:limit]]
    return events, len(bodies) > limit


async def latest(
    session: AsyncSession,
    account_id: int,
    limit: int,
    *,
    list_id: int | None = None,
    list_since: str | None = None,
) -> list[ChangeEvent]:
    """The account's newest ``limit`` events (of ``list_id`` when given), newest first."""
    query = _of(account_id, list_id, list_since).order_by(ChangeEventRow.id.desc()).limit(limit)
    return [ChangeEvent.model_validate_json(body) for body in await session.scalars(query)]


def _of(account_id: int, list_id: int | None, list_since: str | None) -> Select[str]:
    """The bodies of the account's events, of ``list_id`` (from ``list_since``) when given."""
    e = ChangeEventRow
    query = select(e.body).where(e.account_id == account_id)
    if list_id is not None:
        link = ChangeEventListRow
        query = query.join(link, link.event_id == e.id).where(link.list_id == list_id)
        if list_since is not None:
            query = query.where(e.id >= list_since)
    return query
