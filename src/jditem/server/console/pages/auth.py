"""Sign-in (account members: e-mail and password; operators: the admin key), sign-out,
and the one-time set-password link."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from jditem.server.accounts import members
from jditem.server.accounts.errors import AdminError, NotFoundError
from jditem.server.accounts.passwords import MIN_PASSWORD_LENGTH
from jditem.server.clock import now_utc
from jditem.server.console import session_store
from jditem.server.console.deps import (
    TEMPLATES,
    ConsoleDep,
    flash_location,
    read_flash,
    server_context,
    session_keeper,
)
from jditem.server.console.session_cookie import (
    LOGIN_CSRF_COOKIE,
    LOGIN_CSRF_MAX_AGE,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    clear_cookie,
    set_cookie,
)
from jditem.server.shared.auth_throttle import AuthThrottle, client_address

router = APIRouter()


def _safe_next(value: object) -> str:
    """Only same-site console paths are allowed as a post-sign-in target."""
    if isinstance(value, str) and value.startswith("/console") and "//" not in value:
        return value
    return "/console"


def _login_page(
    request: Request,
    *,
    error: str | None,
    next_path: str,
    status: int,
    email: str = "",
    template: str = "login.html",
    **context: object,
) -> Response:
    keeper = session_keeper(request)
    form_token, cookie_value = keeper.new_login_token()
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "error": error,
            "next": next_path,
            "login_token": form_token,
            "signed_in": False,
            "email": email[:254],
            "flash": read_flash(request),
            **context,
        },
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


def _throttled(request: Request, next_path: str, wait: int, what: str) -> Response:
    response = _login_page(
        request,
        error=f"Too many wrong {what}. Try again in {wait} seconds.",
        next_path=next_path,
        status=429,
    )
    response.headers["Retry-After"] = str(wait)
    return response


async def start_session(request: Request, location: str, member_id: int | None) -> Response:
    """A new session (a fresh id and CSRF token, in a new cookie) for the operator
    (``member_id=None``) or a member, and a redirect to ``location``."""
    keeper = session_keeper(request)
    session, cookie_value = keeper.new_session()
    ctx = server_context(request)
    await session_store.add(
        ctx.db,
        session.sid,
        now_utc(ctx.clock),
        SESSION_MAX_AGE,
        member_id=member_id,
        client_address=client_address(request.client),
        user_agent=request.headers.get("user-agent"),
    )
    response = RedirectResponse(location, status_code=303)
    set_cookie(request, response, SESSION_COOKIE, cookie_value, SESSION_MAX_AGE)
    clear_cookie(response, LOGIN_CSRF_COOKIE)
    return response


def _single(form: FormData, name: str) -> str | None:
    """The field's one value; ``""`` when missing; ``None`` when sent more than once."""
    values = form.getlist(name)
    if len(values) > 1:
        return None
    value = values[0] if values else ""
    return value if isinstance(value, str) else ""


@router.post("/login")
async def login(request: Request) -> Response:
    """Check an e-mail and password (account member) or the admin key (operator); on
    success start a session and go to ``next``."""
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
    if "email" in form:
        return await _member_login(request, form, next_path)
    throttle: AuthThrottle = request.app.state.auth_throttle
    address = client_address(request.client)
    wait = await throttle.retry_after(address)
    if wait:
        return _throttled(request, next_path, wait, "admin keys")
    key = _single(form, "admin_key")
    if key is None:
        return _login_page(
            request,
            error="The form sent the admin key more than once. Please try again.",
            next_path=next_path,
            status=400,
        )
    if not key or not keeper.check_admin_key(key):
        await throttle.failed(address, "console sign-in")
        return _login_page(
            request,
            error="That is not the admin key. Use the value of JDITEM_ADMIN_KEY on the server.",
            next_path=next_path,
            status=401,
        )
    await throttle.succeeded(address)
    return await start_session(request, next_path, None)


async def _member_login(request: Request, form: FormData, next_path: str) -> Response:
    """E-mail and password: throttled per client address and per e-mail address."""
    by_address: AuthThrottle = request.app.state.auth_throttle
    by_account: AuthThrottle = request.app.state.member_throttle
    address = client_address(request.client)
    email, password = _single(form, "email"), _single(form, "password")
    if email is None or password is None:
        return _login_page(
            request,
            error="The form sent a field more than once. Please try again.",
            next_path=next_path,
            status=400,
        )
    account_key = email.strip().lower()[:254]
    wait = max(await by_address.retry_after(address), await by_account.retry_after(account_key))
    if wait:
        return _throttled(request, next_path, wait, "passwords")
    ctx = server_context(request)
    async with ctx.sessionmaker() as db:
        member = await members.authenticate(db, email, password)
    if member is None:
        await by_address.failed(address, "console sign-in")
        await by_account.failed(account_key, "console sign-in")
        return _login_page(
            request,
            error="Wrong e-mail or password. If you have no password yet, use the link "
            "your account's owner or the operator gave you.",
            next_path=next_path,
            status=401,
            email=email,
        )
    await by_address.succeeded(address)
    await by_account.succeeded(account_key)
    return await start_session(request, next_path, member.id)


@router.post("/logout")
async def logout(console: ConsoleDep) -> Response:
    """End the session (CSRF-checked) and return to the sign-in page."""
    await console.form()
    await session_store.remove(console.ctx.db, console.session.sid)
    response = RedirectResponse("/console/login", status_code=303)
    clear_cookie(response, SESSION_COOKIE)
    return response


@router.get("/set-password", response_class=HTMLResponse)
async def set_password_form(request: Request) -> Response:
    """The page a one-time set-password link opens."""
    ctx = server_context(request)
    async with ctx.sessionmaker() as db:
        member = await members.member_for_link(
            db, request.query_params.get("key", ""), clock=ctx.clock
        )
    return _set_password_page(request, member, error=None, status=200 if member else 404)


def _set_password_page(
    request: Request, member: members.MemberPublic | None, *, error: str | None, status: int
) -> Response:
    response = _login_page(
        request,
        error=error,
        next_path="/console",
        status=status,
        template="set_password.html",
        member=member,
        key=request.query_params.get("key", "") if member else "",
        min_length=MIN_PASSWORD_LENGTH,
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the link's secret stays here
    return response


@router.post("/set-password")
async def set_password(request: Request) -> Response:
    """Set the password through the link; then the member signs in with it."""
    keeper = session_keeper(request)
    form = await request.form()
    ctx = server_context(request)
    key, password, again = (_single(form, name) or "" for name in ("key", "password", "again"))
    async with ctx.sessionmaker() as db:
        member = await members.member_for_link(db, key, clock=ctx.clock)
        login_token = form.get("login_token")
        if not keeper.check_login_token(
            login_token if isinstance(login_token, str) else None,
            request.cookies.get(LOGIN_CSRF_COOKIE),
        ):
            error = "The form expired or was not sent by this page. Please try again."
            return _set_password_page(request, member, error=error, status=403)
        if member is None:
            return _set_password_page(request, None, error=None, status=404)
        if password != again:
            error = "The two passwords differ. Type the same password twice."
            return _set_password_page(request, member, error=error, status=400)
        try:
            await members.set_password_with_link(db, key, password, clock=ctx.clock)
        except NotFoundError:  # used meanwhile (by a submission at the same moment)
            return _set_password_page(request, None, error=None, status=404)
        except AdminError as exc:
            return _set_password_page(request, member, error=str(exc), status=400)
    flash = "Your password is set. Sign in with your e-mail and the new password."
    return RedirectResponse(flash_location(request, "/console/login", flash), status_code=303)
