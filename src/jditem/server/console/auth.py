"""Sign-in and sign-out with the admin key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from jditem.server.auth_throttle import AuthThrottle, client_address
from jditem.server.console import session_rows
from jditem.server.console.deps import TEMPLATES, ConsoleDep, server_context, session_keeper
from jditem.server.console.session import (
    LOGIN_CSRF_COOKIE,
    LOGIN_CSRF_MAX_AGE,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    clear_cookie,
    set_cookie,
)
from jditem.server.tasks.clock import now_utc

router = APIRouter()


def _safe_next(value: object) -> str:
    """Only same-site console paths are allowed as a post-sign-in target."""
    if isinstance(value, str) and value.startswith("/console") and "//" not in value:
        return value
    return "/console"


def _login_page(request: Request, *, error: str | None, next_path: str, status: int) -> Response:
    keeper = session_keeper(request)
    form_token, cookie_value = keeper.new_login_token()
    response = TEMPLATES.TemplateResponse(
        request,
        "login.html",
        {"error": error, "next": next_path, "login_token": form_token, "signed_in": False},
        status_code=status,
    )
    set_cookie(request, response, LOGIN_CSRF_COOKIE, cookie_value, LOGIN_CSRF_MAX_AGE)
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    """The sign-in form."""
    return _login_page(
        request, error=None, next_path=_safe_next(request.query_params.get("next")), status=200
    )


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the admin key; on success start a session and go to ``next``."""
    keeper = session_keeper(request)
    form = await request.form()
    next_path = _safe_next(form.get("next"))
    login_token = form.get("login_token")
    if not keeper.check_login_token(
        login_token if isinstance(login_token, str) else None,
        request.cookies.get(LOGIN_CSRF_COOKIE),
    ):
        return _login_page(
            request,
            error="The sign-in form expired or was not sent by this page. Please try again.",
            next_path=next_path,
            status=403,
        )
    throttle: AuthThrottle = request.app.state.auth_throttle
    address = client_address(request.client)
    wait = await throttle.retry_after(address)
    if wait:
        response = _login_page(
            request,
            error=f"Too many wrong admin keys. Try again in {wait} seconds.",
            next_path=next_path,
            status=429,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    keys = form.getlist("admin_key")
    if len(keys) > 1:
        return _login_page(
            request,
            error="The form sent the admin key more than once. Please try again.",
            next_path=next_path,
            status=400,
        )
    key = keys[0] if keys else None
    if not isinstance(key, str) or not key or not keeper.check_admin_key(key):
        await throttle.failed(address, "console sign-in")
        return _login_page(
            request,
            error="That is not the admin key. Use the value of JDITEM_ADMIN_KEY on the server.",
            next_path=next_path,
            status=401,
        )
    await throttle.succeeded(address)
    session, cookie_value = keeper.new_session()
    ctx = server_context(request)
    await session_rows.add(ctx.db, session.sid, now_utc(ctx.clock), SESSION_MAX_AGE)
    response = RedirectResponse(next_path, status_code=303)
    set_cookie(request, response, SESSION_COOKIE, cookie_value, SESSION_MAX_AGE)
    clear_cookie(response, LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(console: ConsoleDep) -> Response:
    """End the session (CSRF-checked) and return to the sign-in page."""
    await console.form()
    await session_rows.remove(console.ctx.db, console.session.sid)
    response = RedirectResponse("/console/login", status_code=303)
    clear_cookie(response, SESSION_COOKIE)
    return response
