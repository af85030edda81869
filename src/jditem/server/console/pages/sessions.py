"""Your sessions (end one, sign out everywhere else or everywhere) and, for account
members, the password change.

Operators see the operator sessions (everyone who signed in with the admin key);
members see their own. A password change ends every session of the member and
continues in a new one (new session id and cookie: the session is rotated); a wrong
current password counts against the member's sign-in throttle, so a left-open session
cannot be used to guess it.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from jditem.server.accounts import members, service
from jditem.server.accounts.passwords import MIN_PASSWORD_LENGTH
from jditem.server.clock import now_utc
from jditem.server.console import session_store
from jditem.server.console.deps import Console, ConsoleDep, NotFoundPage, flash_location
from jditem.server.console.pages.auth import start_session
from jditem.server.console.session_cookie import SESSION_COOKIE, clear_cookie
from jditem.server.shared.auth_throttle import AuthThrottle

router = APIRouter()

SESSIONS = "/console/sessions"


def _signed_out() -> Response:
    response = RedirectResponse("/console/login", status_code=303)
    clear_cookie(response, SESSION_COOKIE)
    return response


@router.get("/sessions")
async def sessions_page(console: ConsoleDep) -> Response:
    """The signed-in person's unexpired sessions, newest first."""
    listed = await session_store.listing(
        console.db,
        console.principal.member_id,
        console.session.sid,
        now_utc(console.ctx.clock),
    )
    return console.render("sessions.html", sessions=listed)


@router.post("/sessions/others")
async def end_others(console: ConsoleDep) -> Response:
    """Sign out everywhere else: every other session of this person ends."""
    await console.form()
    ended = await session_store.remove_others(
        console.ctx.db, console.principal.member_id, console.session.sid
    )
    return console.redirect(SESSIONS, flash=f"Signed out {ended} other session(s).")


@router.post("/sessions/all")
async def end_all(console: ConsoleDep) -> Response:
    """Sign out everywhere, this session included."""
    await console.form()
    await session_store.remove_all(console.ctx.db, console.principal.member_id)
    return _signed_out()


@router.post("/sessions/{public_id}/end")
async def end_one(public_id: str, console: ConsoleDep) -> Response:
    """End one of this person's sessions (another person's handle is 404)."""
    await console.form()
    listed = await session_store.listing(
        console.db,
        console.principal.member_id,
        console.session.sid,
        now_utc(console.ctx.clock),
    )
    current = any(s.public_id == public_id and s.current for s in listed)
    ended = await session_store.remove_public(
        console.ctx.db, console.principal.member_id, public_id[:64]
    )
    if not ended:
        return console.not_found(
            "There is no such session of yours; it may have ended already.",
            SESSIONS,
            "Back to your sessions",
        )
    if current:
        return _signed_out()
    return console.redirect(SESSIONS, flash="Session ended.")


def _raw(form: FormData, name: str) -> str:
    """A password field as typed (not stripped; the service checks its length)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _require_member(console: Console) -> int:
    member_id = console.principal.member_id
    if member_id is None:  # operators sign in with the admin key: no password here
        raise NotFoundPage()
    return member_id


def _password_page(
    console: Console, *, status_code: int = 200, error: str | None = None
) -> Response:
    response = console.render(
        "password.html",
        status_code=status_code,
        error=error,
        min_length=MIN_PASSWORD_LENGTH,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/password")
async def password_form(console: ConsoleDep) -> Response:
    """The password-change form (account members only)."""
    _require_member(console)
    return _password_page(console)


@router.post("/password")
async def change_password(console: ConsoleDep) -> Response:
    """Change the password (current + new twice); the member's other sessions end."""
    member_id = _require_member(console)
    form = await console.form()
    throttle: AuthThrottle = console.request.app.state.member_throttle
    email = console.principal.email or ""
    wait = await throttle.retry_after(email)
    if wait:
        response = _password_page(
            console,
            status_code=429,
            error=f"Too many wrong passwords. Try again in {wait} seconds.",
        )
        response.headers["Retry-After"] = str(wait)
        return response
    current, new, again = (_raw(form, name) for name in ("current", "password", "again"))
    if new != again:
        return _password_page(
            console, status_code=400, error="The two new passwords differ. Type the same one twice."
        )
    try:
        await members.change_password(console.db, member_id, current, new, clock=console.ctx.clock)
    except service.AdminError as exc:
        await console.db.rollback()
        if isinstance(exc, members.WrongPasswordError):
            await throttle.failed(email, "console password change")
        return _password_page(console, status_code=400, error=str(exc))
    await throttle.succeeded(email)
    # every session ended, this one too: continue in a new one (a new id and cookie)
    flash = "Password changed. Your other sessions were signed out."
    request = console.request
    return await start_session(request, flash_location(request, SESSIONS, flash), member_id)
