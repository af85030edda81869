"""Members: the people who sign in for an account (SPEC §2.9).

The operator sees every account's members, adds them, resets passwords, changes roles,
removes them, and sets each account's caps on the tokens its members create. An owner
does the same for its own account only (no caps); a plain member gets 404 on every
URL here, and so does anyone naming another account's member by id. A new or reset
member's one-time set-password link is shown once, on a ``no-store`` page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from jditem.server.accounts import members, service
from jditem.server.accounts.caps import MemberCaps, caps_by_account, member_caps, set_member_caps
from jditem.server.console import forms
from jditem.server.console.deps import Console, ConsoleDep, NotFoundPage

router = APIRouter()

BACK = "/console/members"


def _require_manager(console: Console) -> int | None:
    """The account the signed-in person manages (``None``: every account, operator);
    plain members get the 404 page."""
    principal = console.principal
    if not principal.manages_account:
        raise NotFoundPage()
    return None if principal.is_operator else principal.account_id


def link_base(console: Console) -> tuple[str, bool]:
    """Where set-password links point: ``JDITEM_PUBLIC_URL``, else the address this
    server accepted the connection on (never the request's ``Host`` header, which the
    sender chooses); and whether it is the configured one."""
    if console.settings.public_url:
        return console.settings.public_url, True
    scope = console.request.scope
    host, port = scope.get("server") or ("127.0.0.1", 8000)
    host = f"[{host}]" if ":" in host else host
    return f"{scope.get('scheme', 'http')}://{host}:{port}", False


def _link(console: Console, secret: str) -> str:
    return link_base(console)[0] + members.setup_path(secret)


async def _render(
    console: Console,
    *,
    status_code: int = 200,
    error: str | None = None,
    new_link: str | None = None,
    link_member: members.MemberPublic | None = None,
    draft: dict[str, Any] | None = None,
) -> Response:
    account_id = _require_manager(console)
    listed = await members.list_members(console.db, account_id)
    if account_id is None:
        caps = await caps_by_account(console.db)
    else:
        caps = {console.principal.account_name or "": await member_caps(console.db, account_id)}
    response = console.render(
        "members.html",
        status_code=status_code,
        members=listed,
        caps=caps,
        accounts=list(caps),
        roles=members.ROLES,
        error=error,
        new_link=new_link,
        link_member=link_member,
        link_base=link_base(console),
        draft=draft or {"email": "", "account": "", "role": "member"},
    )
    if new_link is not None:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.get("/members")
async def members_page(console: ConsoleDep) -> Response:
    """The account's members (every account's for the operator) and the add form."""
    return await _render(console)


@router.post("/members")
async def add_member(console: ConsoleDep) -> Response:
    """Add a member; the page shows its one-time set-password link this once."""
    account_id = _require_manager(console)
    form = await console.form()
    draft = {key: forms.text(form, key, max_len=300) for key in ("email", "account", "role")}
    account = draft["account"] if account_id is None else console.principal.account_name or ""
    try:
        member, secret = await members.add_member(
            console.db, draft["email"], account, draft["role"] or "member", clock=console.ctx.clock
        )
    except service.AdminError as exc:
        await console.db.rollback()
        return await _render(console, status_code=400, error=str(exc), draft=draft)
    return await _render(console, new_link=_link(console, secret), link_member=member)


async def _refused(console: Console, exc: service.AdminError) -> Response:
    """404 for a missing (or another account's) member; 400 with the reason otherwise."""
    await console.db.rollback()
    if isinstance(exc, service.NotFoundError):
        return console.not_found(str(exc), BACK, "Back to members")
    return await _render(console, status_code=400, error=str(exc))


@router.post("/members/{member_id}/reset")
async def reset_password(member_id: int, console: ConsoleDep) -> Response:
    """A new set-password link; the member's password and sessions end now."""
    account_id = _require_manager(console)
    await console.form()
    try:
        member, secret = await members.reset_password(
            console.db, member_id, account_id, clock=console.ctx.clock
        )
    except service.AdminError as exc:
        return await _refused(console, exc)
    return await _render(console, new_link=_link(console, secret), link_member=member)


@router.post("/members/{member_id}/role")
async def set_role(member_id: int, console: ConsoleDep) -> Response:
    """Make a member an owner or a plain member."""
    account_id = _require_manager(console)
    form = await console.form()
    try:
        member = await members.set_role(console.db, member_id, forms.text(form, "role"), account_id)
    except service.AdminError as exc:
        return await _refused(console, exc)
    return console.redirect(BACK, flash=f"{member.email} is now {member.role}.")


@router.post("/members/{member_id}/remove")
async def remove_member(member_id: int, console: ConsoleDep) -> Response:
    """Remove a member: its sessions end; the tokens it created stay with the account."""
    account_id = _require_manager(console)
    await console.form()
    try:
        member = await members.remove_member(console.db, member_id, account_id)
    except service.AdminError as exc:
        return await _refused(console, exc)
    return console.redirect(BACK, flash=f"Removed {member.email}.")


@router.post("/members/caps")
async def set_caps(console: ConsoleDep) -> Response:
    """The operator sets an account's caps on tokens its members create (empty: no cap);
    the account's member-created tokens above a cap are lowered to it at once."""
    console.require_operator()
    form = await console.form()
    account = forms.text(form, "account")
    try:
        caps = MemberCaps(
            max_budget_units=forms.optional_money(form, "max_budget", "Max budget"),
            max_rate_limit=forms.optional_float(form, "max_rate", "Max rate"),
            max_burst=forms.optional_int(form, "max_burst", "Max burst"),
            max_daily_quota=forms.optional_int(form, "max_quota", "Max quota"),
        )
        _, lowered = await set_member_caps(console.db, account, caps)
    except forms.FormError as exc:
        return await _render(console, status_code=400, error=str(exc))
    except service.AdminError as exc:
        return await _refused(console, exc)
    console.ctx.admission.invalidate()  # lowered limits apply in every process at once
    note = f" {lowered} token(s) of its members were lowered to them." if lowered else ""
    return console.redirect(BACK, flash=f"Caps of account {account} saved.{note}")
