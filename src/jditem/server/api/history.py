"""``GET /api/history/{itemId}`` — an account's history of an item (SPEC §6.1).

Token-authenticated like the v2 endpoint (``Authorization: Bearer`` or ``?token=``), free,
and rate-limited like calls: a read takes a slot of the token's own rate limit. The
account sees what its tokens received and nothing else: an item it never received (or
only another account did) has an empty history.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from starlette.responses import Response

from jditem.protocol import monitoring as wire
from jditem.protocol.codes import Code
from jditem.protocol.ids import item_id_problem
from jditem.server.admission import answers
from jditem.server.admission.answers import Answer
from jditem.server.api.envelope import envelope_response, request_id_of
from jditem.server.api.models import EnvelopeModel, envelope_responses
from jditem.server.api.v2 import MISSING_TOKEN, bearer, token_from
from jditem.server.context import ServerContext
from jditem.server.monitor.history_read import DEFAULT_LIMIT, MAX_LIMIT, read_history
from jditem.server.settings import ENDPOINT_V2

router = APIRouter(tags=["monitoring"])


class _BadParameter(Exception):
    """A query parameter that is not what the endpoint takes (answered 400)."""


def parse_time(
    name: str, text: str | None, timezone: str, *, end_of_day: bool = False
) -> datetime | None:
    """``since``/``until``: ISO-8601 with or without offset (none = the server's zone), or
    a date (its start; ``end_of_day``: the start of the next day)."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    zone = ZoneInfo(timezone)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + timedelta(days=1 if end_of_day else 0)
            return datetime.combine(day, time(), zone)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise _BadParameter(
            f"{name}={text[:40]!r} is not a date or time: use ISO-8601, e.g. 2026-12-01 or "
            "2026-12-01T08:00:00+08:00"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def parse_limit(text: str | None) -> int:
    """``limit``: 1..MAX_LIMIT points (default DEFAULT_LIMIT)."""
    if text is None or not text.strip():
        return DEFAULT_LIMIT
    if not text.strip().isascii() or not text.strip().isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise _BadParameter(f"limit={text[:40]!r} must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


async def _history(request: Request, item_id: str) -> Answer:
    ctx: ServerContext = request.app.state.ctx
    admission = ctx.admission
    raw_token, problem = token_from(request)
    identity = None if problem else await admission.authenticate(raw_token)
    if identity is None:
        return answers.unknown_token(problem or (MISSING_TOKEN if raw_token is None else None))
    if not identity.enabled:
        return answers.disabled_token(identity.prefix)
    if not identity.allows(ENDPOINT_V2):
        return answers.permission_denied(identity.prefix, ENDPOINT_V2)
    bad = item_id_problem(item_id)
    if bad is not None:
        return answers.invalid_params(bad)
    query, zone = request.query_params, ctx.settings.timezone
    try:
        since = parse_time("since", query.get("since"), zone)
        until = parse_time("until", query.get("until"), zone, end_of_day=True)
        limit = parse_limit(query.get("limit"))
    except _BadParameter as exc:
        return answers.invalid_params(str(exc))
    if since is not None and until is not None and since > until:
        return answers.invalid_params("since is after until: give since <= until")
    if identity.rate_limit is not None:
        key = f"token:{identity.token_id}"
        wait = await admission.limiter.acquire(key, identity.rate_limit, identity.burst)
        if wait is not None:
            return answers.rate_limited(identity.rate_limit, wait)
    async with ctx.db.reading() as session:
        page = await read_history(
            session, identity.account_id, item_id, since=since, until=until, limit=limit
        )
    local = ZoneInfo(zone)
    points = []
    for point in page.points:
        shown = point.to_wire()
        shown.valid_from = shown.valid_from.astimezone(local)
        shown.last_confirmed_at = shown.last_confirmed_at.astimezone(local)
        points.append(shown)
    data = wire.ItemHistory(item_id=item_id, points=points, has_more=page.has_more)
    return Answer(code=Code.SUCCESS, message="success", data=data.to_wire())


@router.get(
    "/api/history/{itemId}",
    summary="An item's price and stock history, as this token's account received it",
    response_model=EnvelopeModel,
    responses=envelope_responses(400, 401, 403, 429, 500),
    description=(
        "Change points of the item's tracked state (price current/original/promo, masked "
        "price, stock, on-sale, promotion texts, shop, title) as every code-0 answer this "
        "token's account received recorded them (SPEC §6.1): `data = {itemId, points, "
        "hasMore}`, points oldest first, each `{validFrom, lastConfirmedAt, priceCurrent, "
        "...}` with prices as decimal strings of yuan; a masked price is `null` with "
        "`priceMasked: true` (unknown, never a change). Free of charge; takes a slot of the "
        "token's rate limit. An item the account never received has no points. "
        "`since`/`until` select the points in effect in that window (ISO-8601 time or a "
        "date, in the server's time zone when no offset is given); `limit` (1-10000, "
        "default 1000) keeps the newest points (`hasMore` says older ones were left out)."
    ),
)
async def get_item_history(
    request: Request,
    itemId: Annotated[str, Path(description="JD item (SKU) id: 1-20 ASCII digits.")],
    _credentials: Annotated[HTTPAuthorizationCredentials | None, bearer] = None,
    since: Annotated[str | None, Query(description="Start of the window (time or date).")] = None,
    until: Annotated[str | None, Query(description="End of the window (time or date).")] = None,
    limit: Annotated[str | None, Query(description="Most points (1-10000).")] = None,
    token: Annotated[
        str | None,
        Query(description="API token (compatibility form; prefer the Authorization header)."),
    ] = None,
) -> Response:
    """Answer the history of ``itemId`` for the token's account (parameters read raw)."""
    del since, until, limit, token  # read from the request: their errors are the envelope's
    ctx: ServerContext = request.app.state.ctx
    answer = await _history(request, itemId)
    return envelope_response(
        ctx.settings,
        ctx.clock,
        request_id_of(request),
        answer.code,
        message=answer.message,
        data=answer.data,
        headers=answer.headers,
    )
