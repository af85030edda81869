"""The v2 fast path: ``GET /api/jd/get-item-detail/v2`` served without FastAPI's
routing and middleware stack.

:class:`V2FastPath` is the outermost of the app's middlewares. For a plain v2 ``GET`` it
does what the stack below it would do — the header count and NUL checks (a request
failing either is passed on, to be refused as before), the request id, the route's work
(:func:`jditem.server.api.v2.answer_scope`), ``X-Content-Type-Options`` — and sends the
response's bytes itself, without Starlette ``Request``/``Response`` machinery per call.
Everything else (other paths and methods, ``HEAD`` included, a ``root_path`` set by a
proxy, a server whose lifespan has not run) falls through to the full app unchanged.

The answer is byte for byte the full app's (status, headers in their order, body; only
the date, request id and ``recordTime`` differ between two calls), for every code of
SPEC §2.2: ``tests/server/http/test_fast_path.py`` compares both paths.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from jditem.server.api.envelope import unhandled_response
from jditem.server.api.v2 import V2_PATH, answer_scope
from jditem.server.http.security_headers import NOSNIFF
from jditem.server.ids import new_request_id
from jditem.server.settings import Settings


class V2FastPath:
    """Pure ASGI middleware: the v2 route served directly (see the module docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != V2_PATH
            or scope["method"] != "GET"
            or scope.get("root_path")
            or len(scope["headers"]) > self.settings.max_request_headers
            or b"%00" in scope["query_string"]
        ):
            await self.app(scope, receive, send)
            return
        ctx = getattr(scope["app"].state, "ctx", None)
        if ctx is None:  # lifespan not run: the full app answers as it would
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        try:
            response = await answer_scope(ctx, scope, request_id)
        except Exception as exc:  # as RequestIdMiddleware answers it
            response = await unhandled_response(Request(scope), exc)
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [*response.raw_headers, NOSNIFF],
            }
        )
        await send({"type": "http.response.body", "body": response.body})
