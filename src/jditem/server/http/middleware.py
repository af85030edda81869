"""ASGI middlewares that refuse a malformed request before any handler runs.

* more than ``max_request_headers`` header fields answer 431 (:class:`HeaderCountLimit`,
  reading the headers the server parsed);
* NUL characters in URLs answer 400 (:class:`NoNulInUrls`).

Both answer with the envelope (:func:`jditem.server.http.guard.envelope_http_bytes`).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from jditem.protocol.codes import Code
from jditem.server.http.guard import envelope_http_bytes
from jditem.server.settings import Settings


class HeaderCountLimit:
    """ASGI middleware: more than ``max_headers`` header fields answer 431 (envelope)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.settings.max_request_headers
        if scope["type"] != "http" or len(scope["headers"]) <= limit:
            await self.app(scope, receive, send)
            return
        status, headers, body = envelope_http_bytes(
            self.settings, 431, Code.INVALID_PARAMS, f"more than {limit} header fields"
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class NoNulInUrls:
    """ASGI middleware: a NUL character in the decoded path or query answers 400.

    No identifier contains one, and PostgreSQL cannot compare text with NUL, so such a
    URL could only turn into a database error; it is refused before any handler runs.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ("\x00" in scope["path"] or b"%00" in scope["query_string"]):
            status, headers, body = envelope_http_bytes(
                self.settings, 400, Code.INVALID_PARAMS, "NUL characters are not allowed in URLs"
            )
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
