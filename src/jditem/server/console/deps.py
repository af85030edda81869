"""Request dependencies shared by the console pages: session, database, rendering."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from jditem.server.clock import now_utc
from jditem.server.console import formatting, session_store
from jditem.server.console.principal import Principal
from jditem.server.console.session_cookie import (
    CSRF_FIELD,
    SESSION_COOKIE,
    ConsoleDisabled,
    ConsoleSession,
    SessionKeeper,
    SignInRequired,
    verify_csrf,
)
from jditem.server.context import ServerContext
from jditem.server.settings import Settings
from jditem.wording import plural

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


def time_zone_context(request: Request) -> dict[str, Any]:
    """``tz_name`` and ``local_time`` for every page, signed in or not (sign-in and
    set-password pages too): the server's configured zone, the one the admin CLI and the
    JSON outputs use."""
    settings: Settings = request.app.state.settings
    tz = ZoneInfo(settings.timezone)

    def local_time(value: Any, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        return formatting.local_time(value, tz, fmt)

    return {"tz_name": settings.timezone, "local_time": local_time}


def build_templates() -> Jinja2Templates:
    """The console's Jinja2 environment with its filters."""
    templates = Jinja2Templates(
        directory=str(TEMPLATES_DIR), context_processors=[time_zone_context]
    )
    env = templates.env
    env.filters["money"] = formatting.money
    env.filters["yuan"] = formatting.yuan
    env.filters["code_label"] = formatting.code_label
    env.filters["number"] = formatting.number
    env.filters["interval"] = formatting.interval
    env.filters["plural"] = plural
    env.globals["CSRF_FIELD"] = CSRF_FIELD
    return templates


class NotFoundPage(Exception):
    """Raised by a page handler for an object the signed-in person may not see (404)."""


def server_context(request: Request) -> ServerContext:
    """The running server's context (set by the app's lifespan)."""
    ctx: ServerContext = request.app.state.ctx
    return ctx


def session_keeper(request: Request) -> SessionKeeper:
    """The app's session keeper, created on first use for the configured admin key."""
    settings = server_context(request).settings
    if settings.admin_key is None or not settings.admin_key.get_secret_value():
        raise ConsoleDisabled()
    key = settings.admin_key.get_secret_value()
    keeper: SessionKeeper | None = getattr(request.app.state, "console_sessions", None)
    if keeper is None or not keeper.check_admin_key(key):
        keeper = SessionKeeper(key)
        request.app.state.console_sessions = keeper
    return keeper


def flash_location(request: Request, path: str, message: str) -> str:
    """``path`` with ``message`` as a signed flash (shown by the page at ``path`` for
    :data:`~jditem.server.console.session_cookie.FLASH_MAX_AGE` seconds)."""
    return f"{path}?{urlencode({'flash': session_keeper(request).sign_flash(message)})}"


def read_flash(request: Request) -> str | None:
    """The server-written flash of this request's URL, if any (never unsigned text)."""
    return session_keeper(request).read_flash(request.query_params.get("flash"))


def _next_path(request: Request) -> str:
    path = request.url.path
    return f"{path}?{request.url.query}" if request.url.query else path


@dataclass
class Console:
    """Everything a signed-in page handler needs."""

    request: Request
    session: ConsoleSession
    principal: Principal
    ctx: ServerContext
    db: AsyncSession
    started: float

    @property
    def settings(self) -> Settings:
        """The server settings."""
        return self.ctx.settings

    def now(self) -> datetime:
        """The server clock's "now" (aware UTC)."""
        return now_utc(self.ctx.clock)

    @property
    def tz(self) -> ZoneInfo:
        """The console's display time zone (the quota time zone)."""
        return ZoneInfo(self.settings.timezone)

    async def form(self, *, max_part_size: int = 1024 * 1024) -> FormData:
        """The submitted form, after checking its CSRF token.

        ``max_part_size`` bounds each multipart field (Starlette's limit; 1 MB default).
        """
        form = await self.request.form(max_part_size=max_part_size)
        verify_csrf(self.session, form)
        return form

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        """Render a page with the common context (the URL's signed flash included),
        adding a ``Server-Timing`` header."""
        context.setdefault("flash", read_flash(self.request))
        context.update(
            csrf_token=self.session.csrf,
            signed_in=True,
            principal=self.principal,
            path=self.request.url.path,
        )
        response = TEMPLATES.TemplateResponse(
            self.request, template, context, status_code=status_code
        )
        self.add_timing(response)
        return response

    def add_timing(self, response: Response) -> None:
        """Report the server time spent on this page in ``Server-Timing``."""
        elapsed_ms = (time.perf_counter() - self.started) * 1000
        response.headers["Server-Timing"] = f"console;dur={elapsed_ms:.1f}"

    def not_found(self, message: str, link: str, link_label: str) -> HTMLResponse:
        """The 404 page for a missing object — or another account's (never confirmed)."""
        return self.render(
            "message.html",
            status_code=404,
            heading="Not found",
            message=message,
            link=link,
            link_label=link_label,
        )

    def require_operator(self) -> None:
        """Pages for operators only answer 404 to account members."""
        if not self.principal.is_operator:
            raise NotFoundPage()

    def redirect(self, path: str, flash: str | None = None) -> RedirectResponse:
        """A 303 redirect after a POST, optionally with a signed flash message."""
        url = path if flash is None else flash_location(self.request, path, flash)
        return RedirectResponse(url, status_code=303)


async def console_dep(request: Request) -> AsyncIterator[Console]:
    """Require a signed-in session; open a database session for the page."""
    started = time.perf_counter()
    keeper = session_keeper(request)
    session = keeper.load(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise SignInRequired(_next_path(request))
    ctx = server_context(request)
    try:
        async with ctx.sessionmaker() as db:
            principal = await session_store.principal(db, session.sid, now_utc(ctx.clock))
            if principal is None:
                raise SignInRequired(_next_path(request))  # signed out, expired or removed
            yield Console(request, session, principal, ctx, db, started)
    finally:
        await request.close()  # closes uploaded files of a parsed form


ConsoleDep = Annotated[Console, Depends(console_dep)]
TEMPLATES = build_templates()
