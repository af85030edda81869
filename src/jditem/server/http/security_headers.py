"""Response headers that tell browsers how to treat what the server sends.

Every answer (API envelopes, health, the console) carries ``X-Content-Type-Options:
nosniff``: a JSON body is never sniffed into HTML or script. Console pages (``/console``,
its static files and its error pages) also forbid being framed by any site —
``X-Frame-Options: DENY`` and the CSP ``frame-ancestors 'none'`` (no clickjacking of a
signed-in page) — load scripts, styles and images from the console itself only, post
forms only to it, and send the console's address as a referrer to the same origin only.
A page that sets its own ``Referrer-Policy`` (the set-password link pages:
``no-referrer``) keeps it.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONSOLE_PREFIX = "/console"

#: The console's Content-Security-Policy: its own scripts, styles (inline ``style``
#: attributes of charts and bars included) and images; never framed; forms to itself.
CONSOLE_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

CONSOLE_HEADERS = (
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", CONSOLE_CSP),
)
CONSOLE_REFERRER_POLICY = "same-origin"

#: The header every answer carries, as the raw (name, value) pair an ASGI app sends.
NOSNIFF = (b"x-content-type-options", b"nosniff")


def _is_console(path: str) -> bool:
    return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")


class SecurityHeaders:
    """Pure ASGI middleware adding the headers of the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        console = _is_console(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                if console:
                    for name, value in CONSOLE_HEADERS:
                        headers[name] = value
                    if "referrer-policy" not in headers:
                        headers["Referrer-Policy"] = CONSOLE_REFERRER_POLICY
            await send(message)

        await self.app(scope, receive, send_with_headers)
