"""The console on the app: its pages under ``/console``, static files and error pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from jditem.server.console.deps import STATIC_DIR, TEMPLATES, NotFoundPage
from jditem.server.console.forms import FormError
from jditem.server.console.pages import (
    auth,
    balance,
    calls,
    items,
    job_downloads,
    jobs,
    members,
    overview,
    sessions,
    tasks,
    tokens,
    trends,
    upstream,
    watch,
    webhooks,
)
from jditem.server.console.session_cookie import ConsoleDisabled, CsrfRejected, SignInRequired

PREFIX = "/console"

__all__ = ["PAGES", "PREFIX", "mount"]

#: The console's page modules; each has a ``router`` mounted under :data:`PREFIX`
#: (the isolation tests iterate their routes, so a new page cannot be forgotten).
PAGES = (
    auth,
    overview,
    tokens,
    balance,
    calls,
    trends,
    tasks,
    jobs,
    job_downloads,
    watch,
    webhooks,
    items,
    upstream,
    members,
    sessions,
)


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse(f"{PREFIX}/login?{urlencode({'next': exc.next_path})}", 303)


def _message_page(
    request: Request,
    status: int,
    heading: str,
    message: str,
    link: str | None = PREFIX,
    link_label: str = "Back to the console",
) -> Response:
    """The console's message page (no navigation: the person may not be signed in)."""
    return TEMPLATES.TemplateResponse(
        request,
        "message.html",
        {
            "heading": heading,
            "message": message,
            "link": link,
            "link_label": link_label,
            "signed_in": False,
        },
        status_code=status,
    )


async def _csrf_rejected(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CsrfRejected)
    return _message_page(
        request,
        403,
        "Form rejected",
        f"{exc.reason}. Reload the page and submit the form again; "
        "forms are only accepted from this console's own pages.",
        link=request.headers.get("referer") or PREFIX,
        link_label="Back",
    )


async def _form_error(request: Request, exc: Exception) -> Response:
    """A form field no page handler caught (e.g. far too long): a 400 page, never a 500."""
    return _message_page(
        request,
        400,
        "Form rejected",
        f"{exc}. Go back, correct the field and submit the form again.",
    )


async def _not_found_page(request: Request, exc: Exception) -> Response:
    """Another account's object, or an operator-only page, for an account member."""
    return _message_page(
        request, 404, "Not found", "There is no such page or object in your account."
    )


def wants_page(request: Request) -> bool:
    """A console path asked for by a browser (``Accept`` names HTML before any JSON):
    errors answer with a page. API paths, and clients asking for JSON, keep the envelope."""
    path = request.url.path
    if path != PREFIX and not path.startswith(PREFIX + "/"):
        return False
    accept = request.headers.get("accept", "").lower()
    html, json = accept.find("text/html"), accept.find("application/json")
    return html >= 0 and (json < 0 or html < json)


def _with_console_404(api_handler: Any) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The app's HTTP-error handler, with the "Not found" page for a browser on a console
    path that does not exist (the envelope everywhere else, SPEC §2.1)."""

    async def handler(request: Request, exc: Exception) -> Response:
        is_404 = isinstance(exc, StarletteHTTPException) and exc.status_code == 404
        if is_404 and wants_page(request):
            return await _not_found_page(request, exc)
        response: Response = await api_handler(request, exc)
        return response

    return handler


async def _console_disabled(request: Request, exc: Exception) -> Response:
    return _message_page(
        request,
        503,
        "Console disabled",
        "No admin key is configured. Set JDITEM_ADMIN_KEY on the server and "
        "restart it to use the console.",
        link=None,
    )


def mount(app: FastAPI) -> None:
    """Attach the console's routes, static files and error pages to ``app``."""
    for module in PAGES:
        app.include_router(module.router, prefix=PREFIX, include_in_schema=False)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(CsrfRejected, _csrf_rejected)
    app.add_exception_handler(ConsoleDisabled, _console_disabled)
    app.add_exception_handler(NotFoundPage, _not_found_page)
    app.add_exception_handler(FormError, _form_error)
    api_handler = app.exception_handlers[StarletteHTTPException]
    app.add_exception_handler(StarletteHTTPException, _with_console_404(api_handler))
