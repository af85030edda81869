"""Tokens: list, create (the full token is shown once), enable/disable, edit limits."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from jditem.server.accounts import service
from jditem.server.console import forms
from jditem.server.console.deps import Console, ConsoleDep
from jditem.server.settings import ENDPOINT_V2

router = APIRouter()


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
    tokens = await service.list_tokens(console.db)
    accounts = await service.list_accounts(console.db)
    settings = console.settings
    defaults = draft or {
        "name": "",
        "rate_limit": settings.default_rate_limit,
        "burst": settings.default_burst,
        "daily_quota": settings.default_daily_quota,
        "budget": "",
        "permissions": ENDPOINT_V2,
        "account": accounts[0].name if accounts else "",
    }
    response = console.render(
        "tokens.html",
        status_code=status_code,
        tokens=tokens,
        accounts=accounts,
        new_token=new_token,
        new_token_public=new_token_public,
        error=error,
        draft=defaults,
        flash=console.request.query_params.get("flash"),
    )
    if new_token is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/tokens")
async def tokens_page(console: ConsoleDep) -> Response:
    """Every token with its limits, spend and state, and the create form."""
    return await _render_list(console)


@router.post("/tokens")
async def create_token(console: ConsoleDep) -> Response:
    """Create a token; the page shows the full token this one time only."""
    form = await console.form()
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
    try:
        fields = _limit_fields(form)
        public, raw = await service.create_token(console.db, draft["account"], **fields)
    except (forms.FormError, service.AdminError) as exc:
        await console.db.rollback()
        return await _render_list(console, status_code=400, error=str(exc), draft=draft)
    return await _render_list(console, new_token=raw, new_token_public=public)


@router.post("/tokens/{token_id}/enabled")
async def set_enabled(token_id: int, console: ConsoleDep) -> Response:
    """Enable or disable a token (field ``enabled`` = ``1`` / ``0``)."""
    form = await console.form()
    enabled = forms.text(form, "enabled") == "1"
    try:
        public = await service.set_token_enabled(console.db, token_id, enabled)
    except service.AdminError as exc:
        return await _render_list(console, status_code=404, error=str(exc))
    console.ctx.admission.invalidate()  # refused in every process at once
    state = "enabled" if enabled else "disabled"
    return console.redirect("/console/tokens", flash=f"Token {public.prefix}… {state}.")


@router.get("/tokens/{token_id}")
async def edit_form(token_id: int, console: ConsoleDep) -> Response:
    """The edit form of one token."""
    tokens = [t for t in await service.list_tokens(console.db) if t.id == token_id]
    if not tokens:
        return console.render(
            "message.html",
            status_code=404,
            heading="No such token",
            message=f"There is no token with id {token_id}. Pick one from the list.",
            link="/console/tokens",
            link_label="Back to tokens",
        )
    return console.render("token_edit.html", token=tokens[0], error=None, draft=None)


@router.post("/tokens/{token_id}")
async def edit_token(token_id: int, console: ConsoleDep) -> Response:
    """Save a token's name, limits, budget and permissions (empty field = no limit)."""
    form = await console.form()
    try:
        fields = _limit_fields(form)
        public = await service.update_token(console.db, token_id, **fields)
    except (forms.FormError, service.AdminError) as exc:
        await console.db.rollback()
        tokens = [t for t in await service.list_tokens(console.db) if t.id == token_id]
        if not tokens:
            return console.redirect("/console/tokens", flash=str(exc))
        draft = {
            key: forms.text(form, key, max_len=2000)
            for key in ("name", "rate_limit", "burst", "daily_quota", "budget", "permissions")
        }
        return console.render(
            "token_edit.html", status_code=400, token=tokens[0], error=str(exc), draft=draft
        )
    console.ctx.admission.invalidate()  # new limits apply in every process at once
    return console.redirect("/console/tokens", flash=f"Token {public.prefix}… saved.")
