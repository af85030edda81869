"""``/api/webhooks`` — the webhook endpoints of the caller's account (SPEC §6.3).

Token-authenticated like the watch API (``Authorization: Bearer <token>``, free,
rate-limited by the token's own limit, the envelope of SPEC §2.1). An endpoint's URL is
vetted by the SSRF guard when it is added (a refusal is code 400 saying why) and again
before every delivery. Its signing secret (``whsec_…``) is in the answer of ``add`` and
of ``rotate`` only, never again. Another account's endpoint or delivery is code 404.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.responses import Response

from jditem.protocol.codes import Code
from jditem.server.api.deps import CtxDep
from jditem.server.api.envelope import EnvelopeError, envelope_response, request_id_of
from jditem.server.api.models import CamelBody, EnvelopeModel, envelope_responses
from jditem.server.api.token_auth import TokenDep
from jditem.server.clock import iso_local, now_utc
from jditem.server.context import ServerContext
from jditem.server.jobs.webhook_dispatcher import Dispatcher
from jditem.server.monitor import apprise_channel, endpoints, outbox, watchlists
from jditem.server.monitor.apprise_channel import is_apprise
from jditem.server.monitor.endpoints import EndpointError, EndpointNotFoundError
from jditem.server.monitor.ssrf import TargetRefused
from jditem.server.monitor.watchlists import WatchError
from jditem.server.store.webhook_tables import WebhookEndpointRow

router = APIRouter(
    prefix="/api/webhooks",
    tags=["webhooks"],
    responses=envelope_responses(400, 401, 404, 429, 500),
)
PositiveId = Annotated[int, Field(ge=1)]
MAX_OVERLAP = 7 * 86400


class WebhookCreate(CamelBody):
    """Body of ``POST /api/webhooks``."""

    url: str = Field(
        max_length=2048,
        description="https:// URL of your receiver, or apprise:// followed by an Apprise URL "
        "(a chat or mail channel; the optional extra jditem[apprise]).",
    )
    lists: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list, max_length=100, description="Watch list names (empty: all)."
    )
    kinds: list[Annotated[str, Field(max_length=40)]] = Field(
        default_factory=list, max_length=20, description="Event kinds (empty: all)."
    )
    description: str = Field(default="", max_length=200)


class WebhookRotate(CamelBody):
    """Body of ``POST /api/webhooks/{id}/rotate``."""

    overlap_seconds: int = Field(
        default=86400,
        ge=0,
        le=MAX_OVERLAP,
        description="How long the old secret keeps signing too (default 24 h).",
    )


def _ok(request: Request, ctx: ServerContext, data: Any) -> Response:
    return envelope_response(
        ctx.settings, ctx.clock, request_id_of(request), Code.SUCCESS, data=data
    )


def _failed(exc: EndpointError | WatchError) -> EnvelopeError:
    missing = isinstance(exc, EndpointNotFoundError)
    return EnvelopeError(Code.NOT_FOUND if missing else Code.INVALID_PARAMS, str(exc))


def _dispatcher(request: Request) -> Dispatcher:
    found: Dispatcher = request.app.state.webhooks
    return found


async def _names(ctx: ServerContext, account_id: int) -> dict[int, str]:
    async with ctx.db.reading() as session:
        return {row.id: row.name for row in await watchlists.of_account(session, account_id)}


async def _show(ctx: ServerContext, row: WebhookEndpointRow) -> dict[str, Any]:
    return endpoints.wire(row, await _names(ctx, row.account_id), ctx.settings.timezone)


async def _find(ctx: ServerContext, account_id: int, endpoint_id: int) -> WebhookEndpointRow:
    try:
        async with ctx.db.reading() as session:
            return await endpoints.find(session, account_id, endpoint_id)
    except EndpointError as exc:
        raise _failed(exc) from None


@router.post("", summary="Add a webhook endpoint", response_model=EnvelopeModel)
async def add_endpoint(
    body: WebhookCreate, request: Request, ctx: CtxDep, token: TokenDep
) -> Response:
    """A new endpoint receiving the account's change events (of ``lists`` and ``kinds``
    when given); the answer's ``secret`` is shown this once — keep it."""
    dispatcher = _dispatcher(request)
    try:
        if is_apprise(body.url):
            await apprise_channel.vet(body.url, dispatcher.guard)
        else:
            await dispatcher.guard.vet(body.url)
    except TargetRefused as exc:
        raise EnvelopeError(Code.INVALID_PARAMS, f"url: {exc.message}") from None
    try:
        async with ctx.db.writing() as session:
            lists = [(await watchlists.find(session, token.account_id, n)).id for n in body.lists]
            creator = await endpoints.token_creator(session, token.token_id)
            row, secret = await endpoints.create(
                session,
                dispatcher.box,
                account_id=token.account_id,
                url=body.url,
                lists=lists,
                kinds=body.kinds,
                description=body.description,
                now=now_utc(ctx.clock),
                created_by_member_id=creator,
            )
    except (EndpointError, WatchError) as exc:
        raise EnvelopeError(Code.INVALID_PARAMS, str(exc)) from None
    return _ok(request, ctx, {**(await _show(ctx, row)), "secret": secret.get_secret_value()})


@router.get("", summary="The account's webhook endpoints", response_model=EnvelopeModel)
async def list_endpoints(request: Request, ctx: CtxDep, token: TokenDep) -> Response:
    """Every endpoint of the account (never a secret), with its state."""
    async with ctx.db.reading() as session:
        rows = await endpoints.of_account(session, token.account_id)
    names = await _names(ctx, token.account_id)
    zone = ctx.settings.timezone
    return _ok(request, ctx, {"endpoints": [endpoints.wire(r, names, zone) for r in rows]})


@router.get("/{endpoint_id}", summary="One webhook endpoint", response_model=EnvelopeModel)
async def show_endpoint(
    endpoint_id: PositiveId, request: Request, ctx: CtxDep, token: TokenDep
) -> Response:
    """The endpoint and its state (enabled, or why it was disabled)."""
    return _ok(request, ctx, await _show(ctx, await _find(ctx, token.account_id, endpoint_id)))


@router.delete("/{endpoint_id}", summary="Remove a webhook endpoint", response_model=EnvelopeModel)
async def remove_endpoint(
    endpoint_id: PositiveId, request: Request, ctx: CtxDep, token: TokenDep
) -> Response:
    """Remove the endpoint, its pending deliveries and its delivery log."""
    row = await _find(ctx, token.account_id, endpoint_id)
    async with ctx.db.writing() as session:
        await endpoints.remove(session, row)
    return _ok(request, ctx, {"deleted": row.id})


@router.post("/{endpoint_id}/rotate", summary="Rotate the secret", response_model=EnvelopeModel)
async def rotate_secret(
    endpoint_id: PositiveId,
    request: Request,
    ctx: CtxDep,
    token: TokenDep,
    body: WebhookRotate | None = None,
) -> Response:
    """A new signing secret (shown this once); deliveries are signed with the old one
    too until ``previousSecretUntil``, so a receiver can switch without losing any."""
    row = await _find(ctx, token.account_id, endpoint_id)
    overlap = timedelta(seconds=(body or WebhookRotate()).overlap_seconds)
    async with ctx.db.writing() as session:
        secret, until = await endpoints.rotate(
            session, _dispatcher(request).box, row, now_utc(ctx.clock), overlap
        )
    shown = iso_local(until, ctx.settings.timezone) if until is not None else None
    return _ok(
        request,
        ctx,
        {"id": row.id, "secret": secret.get_secret_value(), "previousSecretUntil": shown},
    )


@router.post("/{endpoint_id}/enable", summary="Enable an endpoint", response_model=EnvelopeModel)
async def enable_endpoint(
    endpoint_id: PositiveId, request: Request, ctx: CtxDep, token: TokenDep
) -> Response:
    """Enable a disabled endpoint; its deliveries still pending go out again."""
    row = await _find(ctx, token.account_id, endpoint_id)
    async with ctx.db.writing() as session:
        await endpoints.enable(session, row)
    return _ok(request, ctx, await _show(ctx, await _find(ctx, token.account_id, endpoint_id)))


@router.post("/{endpoint_id}/test", summary="Send a test event", response_model=EnvelopeModel)
async def test_endpoint(
    endpoint_id: PositiveId, request: Request, ctx: CtxDep, token: TokenDep
) -> Response:
    """Queue a ``webhook.test`` event for this endpoint (delivered like any event)."""
    row = await _find(ctx, token.account_id, endpoint_id)
    try:
        async with ctx.db.writing() as session:
            event_id = await endpoints.send_test(session, row, now_utc(ctx.clock))
    except EndpointError as exc:
        raise _failed(exc) from None
    return _ok(request, ctx, {"webhookId": event_id, "endpointId": row.id})


@router.get("/{endpoint_id}/deliveries", summary="The delivery log", response_model=EnvelopeModel)
async def list_deliveries(
    endpoint_id: PositiveId,
    request: Request,
    ctx: CtxDep,
    token: TokenDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """The endpoint's newest deliveries, newest first, each with every attempt."""
    row = await _find(ctx, token.account_id, endpoint_id)
    async with ctx.db.reading() as session:
        found = await endpoints.deliveries(session, row.id, limit)
    zone = ctx.settings.timezone
    return _ok(
        request, ctx, {"deliveries": [endpoints.delivery_wire(d, a, zone) for d, a in found]}
    )


@router.post(
    "/deliveries/{delivery_id}/replay", summary="Replay a delivery", response_model=EnvelopeModel
)
async def replay_delivery(
    delivery_id: PositiveId, request: Request, ctx: CtxDep, token: TokenDep
) -> Response:
    """Send the delivery again as a new one (same ``webhook-id`` and body)."""
    try:
        async with ctx.db.writing() as session:
            delivery = await endpoints.find_delivery(session, token.account_id, delivery_id)
            connection = await session.connection()
            new_id = await connection.run_sync(outbox.replay, delivery, now_utc(ctx.clock))
            endpoint = await endpoints.find(session, token.account_id, delivery.endpoint_id)
    except EndpointError as exc:
        raise _failed(exc) from None
    return _ok(
        request,
        ctx,
        {"deliveryId": new_id, "webhookId": delivery.event_id, "endpointEnabled": endpoint.enabled},
    )
