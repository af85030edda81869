"""``GET /api/watch/changes`` — the pull feed of the caller's account's change events
(SPEC §6.3).

Token-authenticated (``Authorization: Bearer <token>``), free, rate-limited like calls by
the token's own limit, the envelope of SPEC §2.1. Every event of the account (whatever
its lists' rules say: each event carries ``ruleMatches``), in order, ``limit`` per page;
``cursor`` continues after the last event a reader got, and every answer gives the
cursor to continue from — also when no event is new, so a follower polls with it.
``list`` keeps the events of one of the account's watch lists (404 if it has none so
named).
"""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from jditem.protocol.codes import Code
from jditem.protocol.monitoring import ChangesPage
from jditem.server.api.deps import CtxDep
from jditem.server.api.envelope import EnvelopeError, envelope_response, request_id_of
from jditem.server.api.models import EnvelopeModel, envelope_responses
from jditem.server.api.token_auth import TokenDep
from jditem.server.monitor import events_read, watchlists
from jditem.server.monitor.watchlists import WatchError

router = APIRouter(
    prefix="/api/watch",
    tags=["watch"],
    responses=envelope_responses(400, 401, 404, 429, 500),
)


@router.get("/changes", summary="The account's change events", response_model=EnvelopeModel)
async def changes(
    request: Request,
    ctx: CtxDep,
    token: TokenDep,
    cursor: Annotated[
        str | None,
        Query(
            max_length=64,
            description="The cursor a previous page gave; none: from the oldest kept event.",
        ),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=events_read.MAX_LIMIT, description="Events per page.")
    ] = events_read.DEFAULT_LIMIT,
    list_name: Annotated[
        str | None,
        Query(alias="list", max_length=100, description="Only the events of this watch list."),
    ] = None,
) -> Response:
    """Events after ``cursor`` in order, ``hasMore`` when a next page is ready, and the
    ``cursor`` to continue from (keep it to resume without loss or repeats)."""
    if cursor is not None and events_read.CURSOR.fullmatch(cursor) is None:
        raise EnvelopeError(
            Code.INVALID_PARAMS,
            f"invalid cursor {cursor[:64]!r}: pass the cursor a previous page of "
            "/api/watch/changes gave, or none to start from the oldest kept event",
        )
    async with ctx.db.reading() as session:
        list_id, since = None, None
        if list_name is not None:
            try:
                row = await watchlists.find(session, token.account_id, list_name)
            except WatchError as exc:
                raise EnvelopeError(Code.NOT_FOUND, str(exc)) from None
            list_id, since = row.id, events_read.floor_id(row.created_at)
        events, more = await events_read.read_page(
            session, token.account_id, after=cursor, limit=limit, list_id=list_id, list_since=since
        )
    local = ZoneInfo(ctx.settings.timezone)
    for event in events:
        event.observed_at = event.observed_at.astimezone(local)
    page = ChangesPage(
        events=list(events), cursor=events[-1].id if events else cursor, has_more=more
    )
    return envelope_response(
        ctx.settings, ctx.clock, request_id_of(request), Code.SUCCESS, data=page.to_wire()
    )
