"""Admin HTTP API under ``/api/admin`` over :mod:`jditem.server.accounts.service`.

Authenticated by the admin key (``JDITEM_ADMIN_KEY``) sent as
``Authorization: Bearer <key>`` or ``X-Admin-Key: <key>``; with no key configured the
admin API is disabled (code 600). Every answer is the envelope; amounts are given as
exact yuan strings (``"12.50"``) or integer units (1 unit = 0.0001 CNY).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from jditem.protocol.codes import Code
from jditem.server.accounts import caps, service
from jditem.server.accounts.limits import MAX_NOTE_LENGTH, MAX_PERMISSIONS
from jditem.server.accounts.money import MAX_UNITS, yuan_to_units
from jditem.server.accounts.schemas import AccountPublic
from jditem.server.api.deps import CtxDep, SessionDep
from jditem.server.api.envelope import EnvelopeError, envelope_response, request_id_of
from jditem.server.api.models import EnvelopeModel, envelope_responses
from jditem.server.shared.auth_throttle import AuthThrottle, client_address


def _given_admin_key(request: Request) -> str | None:
    """The key sent as ``X-Admin-Key`` or ``Authorization: Bearer``; refuses repeats."""
    keys = request.headers.getlist("x-admin-key")
    authorizations = request.headers.getlist("authorization")
    if len(keys) + len(authorizations) > 1:
        raise EnvelopeError(
            Code.INVALID_PARAMS,
            "the admin key was sent more than once (repeated X-Admin-Key or Authorization "
            "headers, or both); send it exactly once",
        )
    if keys:
        return keys[0]
    if authorizations:
        scheme, _, value = authorizations[0].partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    return None


async def require_admin(request: Request, ctx: CtxDep) -> None:
    """Refuse the call unless it carries the configured admin key (failures throttled)."""
    configured = ctx.settings.admin_key
    if configured is None or not configured.get_secret_value():
        raise EnvelopeError(
            Code.PERMISSION_DENIED,
            "the admin API is disabled: set JDITEM_ADMIN_KEY on the server to enable it",
        )
    throttle: AuthThrottle = request.app.state.auth_throttle
    address = client_address(request.client)
    wait = await throttle.retry_after(address)
    if wait:
        raise EnvelopeError(
            Code.RATE_LIMITED,
            f"too many wrong admin keys; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    given = _given_admin_key(request)
    if not given or not secrets.compare_digest(
        given.encode("utf-8"), configured.get_secret_value().encode("utf-8")
    ):
        await throttle.failed(address, "admin API")
        raise EnvelopeError(
            Code.INVALID_TOKEN,
            "invalid or missing admin key: send it as 'X-Admin-Key: <key>' or "
            "'Authorization: Bearer <key>'",
        )
    await throttle.succeeded(address)


router = APIRouter(
    prefix="/api/admin",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses=envelope_responses(400, 401, 403, 404, 429, 500),
)


class _Body(BaseModel):
    """Admin request bodies: an unknown field is refused (400 naming it), never ignored;
    values are taken as typed (no ``"1"`` for a number, no ``true`` for 1)."""

    model_config = ConfigDict(extra="forbid", strict=True)


Units = Annotated[int, Field(ge=0, le=MAX_UNITS, description="Units of 0.0001 CNY.")]
Yuan = Annotated[
    str, Field(max_length=64, description="Exact yuan in plain decimal notation, e.g. '12.50'.")
]
Permissions = Annotated[
    list[Annotated[str, Field(max_length=100)]],
    Field(max_length=MAX_PERMISSIONS, description="Endpoint names; ['*'] for every endpoint."),
]
Rate = Annotated[float, Field(allow_inf_nan=False, description="Requests/second.")]


class AccountCreate(_Body):
    """Body of ``POST /api/admin/accounts``."""

    name: str
    balance_yuan: Yuan | None = Field(default=None, description="Opening balance, e.g. '100'.")
    balance_units: Units | None = None


class AccountRename(_Body):
    """Body of ``PATCH /api/admin/accounts/{name}``."""

    name: str = Field(description="The new name.")


class TopupCreate(_Body):
    """Body of ``POST /api/admin/accounts/{name}/topup``."""

    amount_yuan: Yuan | None = None
    amount_units: Annotated[int, Field(gt=0, le=MAX_UNITS)] | None = None
    note: str | None = Field(default=None, max_length=MAX_NOTE_LENGTH)


class CapsUpdate(_Body):
    """Body of ``PATCH /api/admin/accounts/{name}/caps``: only the fields sent change;
    ``null`` removes a cap."""

    max_budget_yuan: Yuan | None = None
    max_budget_units: Units | None = None
    max_rate_limit: Rate | None = None
    max_burst: int | None = Field(
        default=None, description="Null: one second's worth of max_rate_limit."
    )
    max_daily_quota: int | None = None


class TokenCreate(_Body):
    """Body of ``POST /api/admin/tokens``; omitted limits take the server defaults."""

    account: str
    name: str = ""
    budget_yuan: Yuan | None = None
    budget_units: Units | None = None
    rate_limit: Rate | None = Field(default=None, description="Requests/second; null = none.")
    burst: int | None = None
    daily_quota: int | None = None
    permissions: Permissions | None = None


class TokenUpdate(_Body):
    """Body of ``PATCH /api/admin/tokens/{ref}``: only the fields sent are changed."""

    name: str | None = None
    budget_yuan: Yuan | None = None
    budget_units: Units | None = None
    rate_limit: Rate | None = None
    burst: int | None = None
    daily_quota: int | None = None
    permissions: Permissions | None = None


def _units(yuan: str | None, units: int | None, what: str) -> int | None:
    if yuan is not None and units is not None:
        raise EnvelopeError(Code.INVALID_PARAMS, f"give {what} in yuan or in units, not both")
    if yuan is None:
        return units
    try:
        return yuan_to_units(yuan)
    except ValueError as exc:
        raise EnvelopeError(Code.INVALID_PARAMS, f"{what}: {exc}") from None


async def _call(coro: Any) -> Any:
    try:
        return await coro
    except service.NotFoundError as exc:
        raise EnvelopeError(Code.NOT_FOUND, str(exc)) from None
    except service.AdminError as exc:
        raise EnvelopeError(Code.INVALID_PARAMS, str(exc)) from None


def _ok(request: Request, ctx: CtxDep, data: Any) -> Response:
    if request.method != "GET":
        ctx.admission.invalidate()  # tokens, balances or limits changed
    return envelope_response(
        ctx.settings, ctx.clock, request_id_of(request), Code.SUCCESS, data=data
    )


def _dump(value: Any) -> Any:
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, BaseModel):
        data = value.model_dump(mode="json")
        if isinstance(value, AccountPublic):
            data["balance_yuan"] = value.balance_yuan
        return data
    return value


@router.get("/accounts", summary="List accounts", response_model=EnvelopeModel)
async def list_accounts(request: Request, ctx: CtxDep, session: SessionDep) -> Response:
    """Every account with its balance."""
    return _ok(request, ctx, _dump(await _call(service.list_accounts(session))))


@router.post("/accounts", summary="Create an account", response_model=EnvelopeModel)
async def create_account(
    body: AccountCreate, request: Request, ctx: CtxDep, session: SessionDep
) -> Response:
    """Create an account with an optional opening balance."""
    units = _units(body.balance_yuan, body.balance_units, "balance") or 0
    account = await _call(service.create_account(session, body.name, units, clock=ctx.clock))
    return _ok(request, ctx, _dump(account))


@router.get("/accounts/{name}", summary="One account", response_model=EnvelopeModel)
async def get_account(name: str, request: Request, ctx: CtxDep, session: SessionDep) -> Response:
    """One account by name."""
    return _ok(request, ctx, _dump(await _call(service.get_account(session, name))))


@router.patch("/accounts/{name}", summary="Rename an account", response_model=EnvelopeModel)
async def rename_account(
    name: str, body: AccountRename, request: Request, ctx: CtxDep, session: SessionDep
) -> Response:
    """Give an account a new name (the name is checked like a new account's)."""
    return _ok(request, ctx, _dump(await _call(service.rename_account(session, name, body.name))))


@router.get(
    "/accounts/{name}/caps", summary="Caps on members' tokens", response_model=EnvelopeModel
)
async def get_caps(name: str, request: Request, ctx: CtxDep, session: SessionDep) -> Response:
    """The caps on tokens the account's members create (null: no cap); ``burst_cap`` is
    the burst cap in force (``max_burst``, else one second's worth of the rate cap)."""

    async def read() -> caps.MemberCaps:
        account = await service.account_by_name(session, name)
        return await caps.member_caps(session, account.id)

    return _ok(request, ctx, _caps_data(await _call(read()), None))


@router.patch(
    "/accounts/{name}/caps", summary="Set caps on members' tokens", response_model=EnvelopeModel
)
async def set_caps(
    name: str, body: CapsUpdate, request: Request, ctx: CtxDep, session: SessionDep
) -> Response:
    """Change the caps sent (null removes one). The account's member-created tokens above
    a cap are lowered to it at once (``data.lowered_tokens`` says how many); tokens an
    operator created are left as they are."""
    changes = {key: getattr(body, key) for key in body.model_fields_set}
    if "max_budget_yuan" in changes or "max_budget_units" in changes:
        changes["max_budget_units"] = _units(
            changes.pop("max_budget_yuan", None),
            changes.pop("max_budget_units", None),
            "max budget",
        )

    async def apply() -> tuple[caps.MemberCaps, int]:
        account = await service.account_by_name(session, name)
        current = await caps.member_caps(session, account.id)
        return await caps.set_member_caps(session, account.name, current.model_copy(update=changes))

    updated, lowered = await _call(apply())
    return _ok(request, ctx, _caps_data(updated, lowered))


def _caps_data(value: caps.MemberCaps, lowered: int | None) -> dict[str, Any]:
    data: dict[str, Any] = {**value.model_dump(mode="json"), "burst_cap": value.burst_cap}
    if lowered is not None:
        data["lowered_tokens"] = lowered
    return data


@router.post("/accounts/{name}/topup", summary="Top up a balance", response_model=EnvelopeModel)
async def topup(
    name: str, body: TopupCreate, request: Request, ctx: CtxDep, session: SessionDep
) -> Response:
    """Add money to an account (recorded in the ledger)."""
    units = _units(body.amount_yuan, body.amount_units, "amount")
    if units is None:
        raise EnvelopeError(Code.INVALID_PARAMS, "amount_yuan or amount_units is required")
    account = await _call(service.topup(session, name, units, note=body.note, clock=ctx.clock))
    return _ok(request, ctx, _dump(account))


@router.get("/tokens", summary="List tokens", response_model=EnvelopeModel)
async def list_tokens(
    request: Request,
    ctx: CtxDep,
    session: SessionDep,
    account: Annotated[str | None, Query(description="Only this account's tokens.")] = None,
) -> Response:
    """Tokens with their prefixes, limits and spend (never the secret)."""
    return _ok(request, ctx, _dump(await _call(service.list_tokens(session, account))))


@router.post("/tokens", summary="Create a token (shown once)", response_model=EnvelopeModel)
async def create_token(
    body: TokenCreate, request: Request, ctx: CtxDep, session: SessionDep
) -> Response:
    """Create a token; ``data.token`` is the raw token, shown only in this answer."""
    settings = ctx.settings
    given = body.model_fields_set
    public, raw = await _call(
        service.create_token(
            session,
            body.account,
            name=body.name,
            budget_units=_units(body.budget_yuan, body.budget_units, "budget"),
            rate_limit=body.rate_limit if "rate_limit" in given else settings.default_rate_limit,
            burst=body.burst if "burst" in given else settings.default_burst,
            daily_quota=body.daily_quota
            if "daily_quota" in given
            else settings.default_daily_quota,
            permissions=body.permissions,
            clock=ctx.clock,
        )
    )
    return _ok(request, ctx, {"token": raw, "info": _dump(public)})


@router.patch("/tokens/{ref}", summary="Update a token", response_model=EnvelopeModel)
async def update_token(
    ref: str, body: TokenUpdate, request: Request, ctx: CtxDep, session: SessionDep
) -> Response:
    """Change the fields sent (null clears a limit); ``ref`` is the id or visible prefix."""
    fields = {key: getattr(body, key) for key in body.model_fields_set}
    if "budget_yuan" in fields or "budget_units" in fields:
        fields["budget_units"] = _units(
            fields.pop("budget_yuan", None), fields.pop("budget_units", None), "budget"
        )
    public = await _call(service.update_token(session, ref, **fields))
    return _ok(request, ctx, _dump(public))


@router.post("/tokens/{ref}/enable", summary="Enable a token", response_model=EnvelopeModel)
async def enable_token(ref: str, request: Request, ctx: CtxDep, session: SessionDep) -> Response:
    """Enable the token ``ref`` (id or visible prefix)."""
    return _ok(request, ctx, _dump(await _call(service.set_token_enabled(session, ref, True))))


@router.post("/tokens/{ref}/disable", summary="Disable a token", response_model=EnvelopeModel)
async def disable_token(ref: str, request: Request, ctx: CtxDep, session: SessionDep) -> Response:
    """Disable the token ``ref``: its calls answer 100 from now on."""
    return _ok(request, ctx, _dump(await _call(service.set_token_enabled(session, ref, False))))


@router.get("/ledger", summary="Ledger rows, newest first", response_model=EnvelopeModel)
async def ledger(
    request: Request,
    ctx: CtxDep,
    session: SessionDep,
    account: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Money movements: charges (negative) and top-ups (positive)."""
    rows = await _call(service.ledger(session, account, limit=limit, offset=offset))
    return _ok(request, ctx, _dump(rows))
