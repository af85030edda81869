"""The v2 fast path: ``GET /api/jd/get-item-detail/v2`` served before FastAPI's own layers.

:class:`FastPathApp` is the FastAPI app the server runs; its ``__call__`` hands each
request to :class:`V2FastPath` first, ahead of FastAPI's and Starlette's layers
(telemetry, body limit, error middleware, the middleware stack, the router). For a
plain v2 ``GET`` the fast path does what those layers would do — the header count and
NUL checks (a request failing either is passed on, to be refused as before), the
request id, the route's work (:func:`jditem.server.api.v2.answer_scope`),
``X-Content-Type-Options``, the 500 envelope for an unhandled error — and sends the
response's bytes itself. Everything else (other paths and methods, ``HEAD`` included, a
``root_path``, a server whose lifespan has not run) goes to FastAPI unchanged.

The answer is byte for byte the full app's (status, headers in their order, body; only
the date, request id and ``recordTime`` differ between two calls), for every code of
SPEC §2.2: ``tests/server/http/test_fast_path.py`` compares both paths.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from jditem.server.api.envelope import unhandled_response
from jditem.server.api.v2 import V2_PATH, answer_scope
from jditem.server.http.security_headers import NOSNIFF
from jditem.server.ids import new_request_id


class V2FastPath:
    """The v2 route served directly (see the module docstring); ``app`` answers the rest.

    ``owner`` is the FastAPI app whose state (the server context) it serves from.
    """

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = getattr(self.owner.state, "ctx", None)
        if (
            ctx is None  # lifespan not run: the full app answers as it would
            or scope["type"] != "http"
            or scope["path"] != V2_PATH
            or scope["method"] != "GET"
            or scope.get("root_path")
            or self.owner.root_path
            or len(scope["headers"]) > ctx.settings.max_request_headers
            or b"%00" in scope["query_string"]
        ):
            await self.app(scope, receive, send)
            return
        scope["app"] = self.owner  # as Starlette sets it (the 500 envelope reads it)
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


class FastPathApp(FastAPI):
    """FastAPI with :class:`V2FastPath` in front of all of its own layers.

    :attr:`fast_path` is the fast path; its ``app`` is FastAPI's own handling.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fast_path: ASGIApp = V2FastPath(super().__call__, self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.fast_path(scope, receive, send)
