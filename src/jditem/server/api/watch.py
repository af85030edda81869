"""``/api/watch/lists`` — watch lists of the caller's account (SPEC §6.2).

Token-authenticated (``Authorization: Bearer <token>``), free of charge, rate-limited
like calls by the token's own limit; every answer is the envelope of SPEC §2.1. A list
belongs to the token's account and runs its checks under the token that created it;
another account's list is code 404, as an unknown one. Items are added in bulk as ids,
JD item URLs, or a CSV / JSON Lines / plain text with the same reader as ``jditem
batch`` (:mod:`jditem.formats.items`). The bodies are :mod:`.watch_bodies`, the caller's
token :mod:`.token_auth`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from jditem.formats.items import (
    INPUT_FORMATS,
    InputError,
    ItemList,
    collect,
    parse_input,
    parse_lines,
    sniff_format,
)
from jditem.protocol.codes import Code
from jditem.protocol.monitoring import PausedReason
from jditem.server.accounts.identities import TokenIdentity
from jditem.server.accounts.money import yuan_to_units
from jditem.server.api.deps import CtxDep
from jditem.server.api.envelope import EnvelopeError, envelope_response, request_id_of
from jditem.server.api.models import EnvelopeModel, envelope_responses
from jditem.server.api.token_auth import TokenDep
from jditem.server.api.watch_bodies import ItemsAdd, ItemsRemove, WatchListCreate, WatchListUpdate
from jditem.server.clock import iso_local, now_utc
from jditem.server.context import ServerContext
from jditem.server.monitor import watch_items, watchlists
from jditem.server.monitor.watch_schedule import check_affordable, item_interval, schedule_values
from jditem.server.monitor.watchlists import WatchError, WatchNotFoundError
from jditem.server.settings import ENDPOINT_V2
from jditem.server.store.watch_tables import WatchListRow

#: The most invalid lines an answer lists (all are counted).
SHOWN_SKIPPED = 100


router = APIRouter(
    prefix="/api/watch",
    tags=["watch"],
    responses=envelope_responses(400, 401, 403, 404, 429, 500),
)


def _ok(request: Request, ctx: ServerContext, data: Any) -> Response:
    return envelope_response(
        ctx.settings, ctx.clock, request_id_of(request), Code.SUCCESS, data=data
    )


def _units(value: str | int) -> int:
    try:
        return watchlists.check_budget(yuan_to_units(value))
    except (ValueError, WatchError) as exc:
        raise EnvelopeError(Code.INVALID_PARAMS, f"dailyBudget: {exc}") from None


def _schedule(
    ctx: ServerContext, row: WatchListRow | None, body: WatchListCreate | WatchListUpdate
) -> dict[str, object]:
    return schedule_values(
        row,
        interval=body.interval_seconds,
        min_interval=body.min_interval_seconds,
        max_interval=body.max_interval_seconds,
        within=body.within_seconds,
        floor=ctx.settings.watch_min_interval_seconds,
    )


def _failed(exc: WatchError) -> EnvelopeError:
    code = Code.NOT_FOUND if isinstance(exc, WatchNotFoundError) else Code.INVALID_PARAMS
    return EnvelopeError(code, str(exc))


async def _show(ctx: ServerContext, row: WatchListRow) -> dict[str, Any]:
    prefix = await _prefix(ctx, row.token_id)
    async with ctx.db.reading() as session:
        state = await watchlists.status(session, row, now_utc(ctx.clock), ctx.settings.timezone)
    return watchlists.wire(row, prefix, state).to_wire()


async def _prefix(ctx: ServerContext, token_id: int) -> str:
    identity = await ctx.admission.identity_for_token(token_id)
    return identity.prefix if identity is not None else "?"


def _read_items(refs: list[str], text: str | None, fmt: str | None, column: str | None) -> ItemList:
    found = collect(entry for ref in refs for entry in parse_lines([ref]))
    if text is not None:
        lines = text.splitlines()
        first = next((line for line in lines if line.strip()), "")
        try:
            chosen = fmt if fmt in INPUT_FORMATS else sniff_format(first)
            collect(parse_input(lines, chosen, id_column=column), found)
        except InputError as exc:
            raise EnvelopeError(Code.INVALID_PARAMS, str(exc)) from None
    return found


def _items_answer(found: ItemList, added: int, already: int) -> dict[str, Any]:
    return {
        "added": added,
        "alreadyThere": already + found.duplicates,
        "skipped": [
            {"line": s.line_no, "text": s.shown, "reason": s.reason}
            for s in found.skipped[:SHOWN_SKIPPED]
        ],
        "skippedTotal": found.skipped_total,
    }


@router.post("/lists", summary="Create a watch list", response_model=EnvelopeModel)
async def create_list(
    body: WatchListCreate, request: Request, ctx: CtxDep, token: TokenDep
) -> Response:
    """A new list of the token's account, checked under this token every
    ``intervalSeconds`` within ``dailyBudget`` yuan a day; ``items`` may come at once."""
    if not token.allows(ENDPOINT_V2):
        raise EnvelopeError(
            Code.PERMISSION_DENIED,
            f"token {token.prefix}... may not call {ENDPOINT_V2}, which every check of the "
            "list is; create the list with a token that may",
        )
    budget = _units(body.daily_budget)
    found = _read_items(body.items, None, None, None)
    now = now_utc(ctx.clock)
    try:
        schedule = _schedule(ctx, None, body)
        if not schedule:
            raise WatchError(
                "a list needs a schedule: intervalSeconds (fixed), or minIntervalSeconds and "
                "maxIntervalSeconds (adaptive)"
            )
        check_affordable(
            None, {**schedule, "daily_budget": budget}, len(found.ids), ctx.settings.price_units
        )
        async with ctx.db.writing() as session:
            row = await watchlists.create(
                session,
                account_id=token.account_id,
                token_id=token.token_id,
                name=body.name,
                schedule=schedule,
                daily_budget=budget,
                now=now,
                rules=body.rules,
            )
            await watch_items.add_items(session, row, found.ids, now, ctx.settings.watch_max_items)
    except WatchError as exc:
        raise _failed(exc) from None
    return _ok(request, ctx, await _show(ctx, row))


@router.get("/lists", summary="The account's watch lists", response_model=EnvelopeModel)
async def list_lists(request: Request, ctx: CtxDep, token: TokenDep) -> Response:
    """Every list of the token's account, with its status."""
    async with ctx.db.reading() as session:
        rows = await watchlists.of_account(session, token.account_id)
    return _ok(request, ctx, {"lists": [await _show(ctx, row) for row in rows]})


async def _find(ctx: ServerContext, token: TokenIdentity, name: str) -> WatchListRow:
    try:
        async with ctx.db.reading() as session:
            return await watchlists.find(session, token.account_id, name)
    except WatchError as exc:
        raise _failed(exc) from None


@router.get("/lists/{name}", summary="One watch list", response_model=EnvelopeModel)
async def show_list(name: str, request: Request, ctx: CtxDep, token: TokenDep) -> Response:
    """The list and its status: next check, last check, spend today vs budget, pause."""
    return _ok(request, ctx, await _show(ctx, await _find(ctx, token, name)))


@router.patch("/lists/{name}", summary="Change a watch list", response_model=EnvelopeModel)
async def update_list(
    name: str, body: WatchListUpdate, request: Request, ctx: CtxDep, token: TokenDep
) -> Response:
    """Pause (``paused: true``, reason ``user``) or resume it, change its interval (from
    each item's next check on), its daily budget (binding the next charge) or its rules
    (from the next event on)."""
    row = await _find(ctx, token, name)
    now = now_utc(ctx.clock)
    values: dict[str, Any] = {}
    try:
        values.update(_schedule(ctx, row, body))
        if body.daily_budget is not None:
            values["daily_budget"] = _units(body.daily_budget)
        if body.rules is not None:
            values["rules"] = watchlists.rules_text(body.rules)
        async with ctx.db.reading() as session:
            items = await watch_items.count_items(session, row.id)
        check_affordable(row, values, items, ctx.settings.price_units)
    except WatchError as exc:
        raise _failed(exc) from None
    async with ctx.db.writing() as session:
        if values:
            await watchlists.change(session, row.id, values, now)
        if body.paused is not None:
            reason = PausedReason.USER if body.paused else None
            await watchlists.set_paused(session, row.id, reason, now)
    return _ok(request, ctx, await _show(ctx, await _find(ctx, token, name)))


@router.delete("/lists/{name}", summary="Delete a watch list", response_model=EnvelopeModel)
async def delete_list(name: str, request: Request, ctx: CtxDep, token: TokenDep) -> Response:
    """Delete the list and its items (its charges stay in the ledger and call records)."""
    row = await _find(ctx, token, name)
    async with ctx.db.writing() as session:
        await watchlists.drop(session, row)
    return _ok(request, ctx, {"deleted": row.name})


@router.post("/lists/{name}/items", summary="Add items", response_model=EnvelopeModel)
async def add_items(
    name: str, body: ItemsAdd, request: Request, ctx: CtxDep, token: TokenDep
) -> Response:
    """Add ids / JD URLs (``items``) and/or a whole input (``text``); lines naming no
    item are skipped and reported, repeats counted in ``alreadyThere``."""
    row = await _find(ctx, token, name)
    found = _read_items(body.items, body.text, body.format, body.id_column)
    try:
        async with ctx.db.writing() as session:
            added, already = await watch_items.add_items(
                session, row, found.ids, now_utc(ctx.clock), ctx.settings.watch_max_items
            )
    except WatchError as exc:
        raise _failed(exc) from None
    return _ok(request, ctx, _items_answer(found, added, already))


@router.post("/lists/{name}/items/remove", summary="Remove items", response_model=EnvelopeModel)
async def remove_items(
    name: str, body: ItemsRemove, request: Request, ctx: CtxDep, token: TokenDep
) -> Response:
    """Remove ids / JD URLs from the list (``removed``: how many it held)."""
    row = await _find(ctx, token, name)
    found = _read_items(body.items, None, None, None)
    async with ctx.db.writing() as session:
        removed = await watch_items.remove_items(session, row, found.ids)
    return _ok(request, ctx, {"removed": removed, "skippedTotal": found.skipped_total})


@router.get("/lists/{name}/items", summary="The list's items", response_model=EnvelopeModel)
async def list_items(
    name: str,
    request: Request,
    ctx: CtxDep,
    token: TokenDep,
    after: Annotated[
        str | None, Query(max_length=20, description="Item id to continue after.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """A page of items by id with their schedule; ``next`` continues (null at the end)."""
    row = await _find(ctx, token, name)
    async with ctx.db.reading() as session:
        page = await watch_items.items_page(session, row, after, limit)
    zone = ctx.settings.timezone

    def when(value: Any) -> str | None:
        return iso_local(value, zone) if value is not None else None

    items = [
        {
            "itemId": item.item_id,
            "nextCheckAt": None if row.paused else when(item.next_check_at),
            "lastCheckedAt": when(item.last_checked_at),
            "lastCode": item.last_code,
            "intervalSeconds": item_interval(row, item),
            "checks": item.checks,
            "changes": item.changes,
        }
        for item in page
    ]
    return _ok(
        request,
        ctx,
        {"items": items, "next": page[-1].item_id if len(page) == limit else None},
    )
