"""Tokens: list, create (the full token is shown once), enable/disable, edit limits.

Operators see and manage every token. Account members see their account's tokens;
owners manage all of them, plain members only the ones they created; both create and
edit tokens within the caps the operator set on the account
(:mod:`jditem.server.accounts.caps`). Another account's token by id answers 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from jditem.server.accounts import service
from jditem.server.accounts.caps import MemberCaps, check_within_caps, member_caps
from jditem.server.accounts.money import units_to_yuan
from jditem.server.accounts.quota import local_day
from jditem.server.accounts.schemas import TokenPublic
from jditem.server.console import forms, scopes
from jditem.server.console.deps import Console, ConsoleDep, NotFoundPage
from jditem.server.console.paging import MAX_ID
from jditem.server.console.principal import Principal
from jditem.server.settings import ENDPOINT_V2
from jditem.server.store.tables import ApiToken, QuotaCounter

router = APIRouter()


@dataclass(frozen=True)
class TokenRow:
    """A token as listed: its public view, what is left of its budget and today's quota,
    and whether the signed-in person may change it."""

    token: TokenPublic
    budget_left: int | None
    quota_used: int
    quota_left: int | None
    manageable: bool


def may_manage(principal: Principal, created_by_member_id: int | None) -> bool:
    """Whether the person may change a token of its account (the caller checked that the
    token is visible): operators and owners every one, plain members their own."""
    return principal.manages_account or (
        created_by_member_id is not None and created_by_member_id == principal.member_id
    )


async def quota_used_today(
    db: AsyncSession, token_ids: list[int], timezone: str, now: datetime
) -> dict[int, int]:
    """Admitted calls today (the quota's local day) per token id."""
    if not token_ids:
        return {}
    day = local_day(now, timezone)
    rows = await db.execute(
        select(QuotaCounter.token_id, QuotaCounter.count).where(
            QuotaCounter.day == day, QuotaCounter.token_id.in_(token_ids)
        )
    )
    return {int(token_id): int(count) for token_id, count in rows}


async def token_rows(console: Console) -> list[TokenRow]:
    """The tokens the signed-in person may see, with budget and quota left."""
    principal = console.principal
    account = None if principal.is_operator else principal.account_name
    tokens = await service.list_tokens(console.db, account)
    used = await quota_used_today(
        console.db, [t.id for t in tokens], console.settings.timezone, console.now()
    )
    rows = []
    for t in tokens:
        count = used.get(t.id, 0)
        rows.append(
            TokenRow(
                token=t,
                budget_left=None if t.budget_units is None else t.budget_units - t.spent_units,
                quota_used=count,
                quota_left=None if t.daily_quota is None else max(0, t.daily_quota - count),
                manageable=may_manage(principal, t.created_by_member_id),
            )
        )
    return rows


async def _caps(console: Console) -> MemberCaps | None:
    """The caps on tokens this person creates or edits (``None`` for operators)."""
    principal = console.principal
    if principal.is_operator or principal.account_id is None:
        return None
    return await member_caps(console.db, principal.account_id)


def _capped(default: Any, cap: Any) -> Any:
    if cap is None:
        return default
    return cap if default is None else min(default, cap)


def _limit_fields(form: Any) -> dict[str, Any]:
    return {
        "name": forms.text(form, "name"),
        "rate_limit": forms.optional_float(form, "rate_limit", "Rate limit"),
        "burst": forms.optional_int(form, "burst", "Burst"),
        "daily_quota": forms.optional_int(form, "daily_quota", "Daily quota"),
        "budget_units": forms.optional_money(form, "budget", "Budget"),
        "permissions": forms.permissions(form),
    }


async def _render_list(
    console: Console,
    *,
    status_code: int = 200,
    new_token: str | None = None,
    new_token_public: Any = None,
    error: str | None = None,
    draft: dict[str, Any] | None = None,
) -> Response:
    principal = console.principal
    rows = await token_rows(console)
    accounts = await service.list_accounts(console.db)
    if not principal.is_operator:
        accounts = [a for a in accounts if a.id == principal.account_id]
    caps = await _caps(console)
    settings = console.settings
    defaults = draft or {
        "name": "",
        "rate_limit": _capped(settings.default_rate_limit, caps and caps.max_rate_limit),
        "burst": _capped(settings.default_burst, caps and caps.burst_cap),
        "daily_quota": _capped(settings.default_daily_quota, caps and caps.max_daily_quota),
        "budget": units_to_yuan(caps.max_budget_units)
        if caps is not None and caps.max_budget_units is not None
        else "",
        "permissions": ENDPOINT_V2,
        "account": accounts[0].name if accounts else "",
    }
    response = console.render(
        "tokens.html",
        status_code=status_code,
        rows=rows,
        accounts=accounts,
        caps=caps,
        new_token=new_token,
        new_token_public=new_token_public,
        error=error,
        draft=defaults,
    )
    if new_token is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/tokens")
async def tokens_page(console: ConsoleDep) -> Response:
    """The tokens the signed-in person may see, with limits, spend and state, and the
    create form."""
    return await _render_list(console)


@router.post("/tokens")
async def create_token(console: ConsoleDep) -> Response:
    """Create a token; the page shows the full token this one time only.

    A member's token always belongs to its own account (a submitted ``account`` field
    is ignored) and stays within the operator's caps.
    """
    form = await console.form()
    principal = console.principal
    draft = {
        key: forms.text(form, key, max_len=2000)
        for key in (
            "name",
            "rate_limit",
            "burst",
            "daily_quota",
            "budget",
            "permissions",
            "account",
        )
    }
    if not principal.is_operator:
        draft["account"] = principal.account_name or ""
    try:
        fields = _limit_fields(form)
        caps = await _caps(console)
        if caps is not None:
            check_within_caps(caps, fields)
        public, raw = await service.create_token(
            console.db,
            draft["account"],
            created_by_member_id=principal.member_id,
            clock=console.ctx.clock,
            **fields,
        )
    except (forms.FormError, service.AdminError) as exc:
        await console.db.rollback()
        return await _render_list(console, status_code=400, error=str(exc), draft=draft)
    return await _render_list(console, new_token=raw, new_token_public=public)


async def _token_for_change(console: Console, token_id: int) -> Response | None:
    """``None`` when the person may change the token; else the answer: 404 for a token
    it cannot see (missing or another account's), 403 for another member's token."""
    if not 0 < token_id <= MAX_ID:  # past the database's ids: no such token
        raise NotFoundPage()
    token = await console.db.scalar(
        select(ApiToken).where(ApiToken.id == token_id, scopes.tokens(console.principal))
    )
    if token is None:
        raise NotFoundPage()
    if may_manage(console.principal, token.created_by_member_id):
        return None
    return console.render(
        "message.html",
        status_code=403,
        heading="Not your token",
        message=f"Token {token.prefix}… was created by someone else in your account: only "
        "its creator or an owner of the account can change it. Ask an owner.",
        link="/console/tokens",
        link_label="Back to tokens",
    )


@router.post("/tokens/{token_id}/enabled")
async def set_enabled(token_id: int, console: ConsoleDep) -> Response:
    """Enable or disable a token (field ``enabled`` = ``1`` / ``0``)."""
    form = await console.form()
    enabled = forms.text(form, "enabled") == "1"
    if (refused := await _token_for_change(console, token_id)) is not None:
        return refused
    try:
        public = await service.set_token_enabled(console.db, token_id, enabled)
    except service.AdminError as exc:
        return await _render_list(console, status_code=404, error=str(exc))
    console.ctx.admission.invalidate()  # refused in every process at once
    state = "enabled" if enabled else "disabled"
    return console.redirect("/console/tokens", flash=f"Token {public.prefix}… {state}.")


async def _visible_token(console: Console, token_id: int) -> TokenPublic:
    account = None if console.principal.is_operator else console.principal.account_name
    tokens = [t for t in await service.list_tokens(console.db, account) if t.id == token_id]
    if not tokens:
        raise NotFoundPage()
    return tokens[0]


@router.get("/tokens/{token_id}")
async def edit_form(token_id: int, console: ConsoleDep) -> Response:
    """The edit form of one token."""
    if (refused := await _token_for_change(console, token_id)) is not None:
        return refused
    token = await _visible_token(console, token_id)
    caps = await _caps(console)
    return console.render("token_edit.html", token=token, caps=caps, error=None, draft=None)


@router.post("/tokens/{token_id}")
async def edit_token(token_id: int, console: ConsoleDep) -> Response:
    """Save a token's name, limits, budget and permissions (empty field = no limit)."""
    form = await console.form()
    if (refused := await _token_for_change(console, token_id)) is not None:
        return refused
    caps = await _caps(console)
    try:
        fields = _limit_fields(form)
        if caps is not None:
            check_within_caps(caps, fields)
        public = await service.update_token(console.db, token_id, **fields)
    except (forms.FormError, service.AdminError) as exc:
        await console.db.rollback()
        token = await _visible_token(console, token_id)
        draft = {
            key: forms.text(form, key, max_len=2000)
            for key in ("name", "rate_limit", "burst", "daily_quota", "budget", "permissions")
        }
        return console.render(
            "token_edit.html",
            status_code=400,
            token=token,
            caps=caps,
            error=str(exc),
            draft=draft,
        )
    console.ctx.admission.invalidate()  # new limits apply in every process at once
    return console.redirect("/console/tokens", flash=f"Token {public.prefix}… saved.")
