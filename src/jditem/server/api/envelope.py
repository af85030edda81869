"""The response envelope on every answer (SPEC §2.1), request ids, and error handlers.

* :class:`RequestIdMiddleware` gives each HTTP request a ULID-like ``requestId``
  (kept in ``request.state.request_id``) and adds the ``X-Request-Id`` header.
* :func:`envelope_response` renders ``{code, message, data, recordTime, requestId}``
  with the HTTP status of the configured ``http_status_mode``.
* :func:`install_error_handlers` makes 404, 405, validation errors and unhandled
  exceptions answer with the envelope too (no stack trace leaves the server).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jditem.protocol.codes import Code
from jditem.server.clock import Clock, record_time
from jditem.server.ids import new_request_id
from jditem.server.settings import Settings

log = logging.getLogger("jditem.server")

REQUEST_ID_HEADER = "X-Request-Id"
JSON_MEDIA_TYPE = "application/json"
_JSON_MEDIA_TYPE_BYTES = JSON_MEDIA_TYPE.encode("latin-1")


class RequestIdMiddleware:
    """Pure ASGI middleware: assign a request id, echo it as ``X-Request-Id``, and turn an
    unhandled exception into the 500 envelope.

    Answering the 500 here (instead of letting Starlette's outermost error middleware
    re-raise to the server) keeps the connection alive and logs the error once.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                if REQUEST_ID_HEADER.lower() not in headers:
                    headers.append(REQUEST_ID_HEADER, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if started:
                raise
            request = Request(scope)
            response = await unhandled_response(request, exc)
            await response(scope, receive, send)


def request_id_of(request: Request) -> str:
    """The request id assigned by the middleware (a fresh one if it did not run)."""
    state = request.scope.setdefault("state", {})
    rid = state.get("request_id")
    if not isinstance(rid, str):
        rid = new_request_id()
        state["request_id"] = rid
    return rid


def http_status_for(code: int, settings: Settings, status_code: int | None = None) -> int:
    """The HTTP status for ``code`` under ``settings.http_status_mode``.

    ``status_code`` overrides the code's own status in "mapped" mode (a 405 answers
    code 400 with HTTP 405); "always-200" answers 200 regardless.
    """
    if settings.http_status_mode == "always-200":
        return 200
    if status_code is not None:
        return status_code
    known = Code.lookup(code)
    return known.http_status if known is not None else 500


#: ``json.dumps`` with these options, without building an encoder per call.
_encode = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
).encode


def _json(value: Any) -> bytes:
    """Compact UTF-8 JSON, as Starlette's ``JSONResponse`` renders it."""
    return _encode(value).encode("utf-8")


def _raw_headers(headers: Mapping[str, str], status: int, body: bytes) -> list[tuple[bytes, bytes]]:
    """The raw headers Starlette's ``Response(body, status, headers,
    media_type=JSON_MEDIA_TYPE)`` sends: ``headers`` in order (names lowercase), then
    ``content-length`` and ``content-type`` unless given."""
    raw = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]
    names = {name for name, _ in raw}
    if b"content-length" not in names and not (status < 200 or status in (204, 304)):
        raw.append((b"content-length", str(len(body)).encode("latin-1")))
    if b"content-type" not in names:
        raw.append((b"content-type", _JSON_MEDIA_TYPE_BYTES))
    return raw


class EnvelopeResponse(Response):
    """A ``Response`` given its body and raw headers (:func:`envelope_response` builds
    them as Starlette would, in fewer steps)."""

    media_type = JSON_MEDIA_TYPE

    def __init__(self, status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status_code = status
        self.background = None
        self.body = body
        self.raw_headers = raw_headers


def envelope_bytes(
    code: int, message: str, data_json: bytes, *, request_id: str, record_time: str
) -> bytes:
    """The envelope as JSON bytes around ``data_json`` (``data`` already serialized).

    The same bytes as ``JSONResponse`` renders for the envelope dict, without walking a
    cached payload again on every call.
    """
    return b"".join(
        (
            b'{"code":',
            str(int(code)).encode(),
            b',"message":',
            _json(message),
            b',"data":',
            data_json,
            b',"recordTime":',
            _json(record_time),
            b',"requestId":',
            _json(request_id),
            b"}",
        )
    )


def envelope_response(
    settings: Settings,
    clock: Clock,
    request_id: str,
    code: int,
    *,
    message: str | None = None,
    data: Any = None,
    headers: Mapping[str, str] | None = None,
    status_code: int | None = None,
    data_json: bytes | None = None,
) -> Response:
    """An envelope response with the status of the configured mode and ``X-Request-Id``.

    ``data_json`` is ``data`` already serialized (a cached payload); it wins over ``data``.
    """
    known = Code.lookup(code)
    text = (
        message
        if message is not None
        else (known.default_message if known is not None else "error")
    )
    content = envelope_bytes(
        code,
        text,
        data_json if data_json is not None else _json(data),
        request_id=request_id,
        record_time=record_time(clock(), settings.timezone),
    )
    all_headers = {REQUEST_ID_HEADER: request_id, **(headers or {})}
    status = http_status_for(code, settings, status_code)
    return EnvelopeResponse(status, _raw_headers(all_headers, status, content), content)


def _context_parts(request: Request) -> tuple[Settings, Clock]:
    ctx = getattr(request.app.state, "ctx", None)
    if ctx is not None:
        return ctx.settings, ctx.clock
    settings: Settings = request.app.state.settings
    clock: Clock = request.app.state.clock
    return settings, clock


def error_response(
    request: Request, code: Code, message: str, status_code: int | None = None
) -> Response:
    """An envelope error response for ``request`` (used by the handlers below)."""
    settings, clock = _context_parts(request)
    return envelope_response(
        settings, clock, request_id_of(request), code, message=message, status_code=status_code
    )


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "body"))
        if error.get("type") == "extra_forbidden":
            parts.append(f"{where}: unknown field; remove it")
            continue
        parts.append(f"{where or 'request'}: {error.get('msg', 'invalid')}")
    return "invalid parameters: " + "; ".join(parts) + " (see /docs for the expected input)"


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return error_response(
            request, Code.NOT_FOUND, f"unknown path {request.url.path}; see /docs for the API"
        )
    if exc.status_code == 405:
        return error_response(
            request,
            Code.INVALID_PARAMS,
            f"method {request.method} is not allowed on {request.url.path}; "
            f"allowed: {exc.headers.get('Allow', 'GET') if exc.headers else 'GET'}",
            status_code=405,
        )
    detail = exc.detail if isinstance(exc.detail, str) else "invalid request"
    return error_response(request, Code.INVALID_PARAMS, detail)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(request, Code.INVALID_PARAMS, _validation_message(exc))


async def unhandled_response(request: Request, exc: Exception) -> Response:
    """The 500 envelope for an unhandled ``exc``: logged once with the request id, no
    trace in the answer."""
    rid = request_id_of(request)
    log.error(
        "unhandled error in %s %s (requestId %s)",
        request.method,
        request.url.path,
        rid,
        exc_info=exc,
    )
    return error_response(
        request,
        Code.INTERNAL_ERROR,
        f"internal server error; retry later, and quote requestId {rid} if it persists",
    )


class EnvelopeError(Exception):
    """Raise from a handler or dependency to answer with ``code`` and ``message``."""

    def __init__(self, code: Code, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


async def _envelope_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EnvelopeError)
    settings, clock = _context_parts(request)
    return envelope_response(
        settings, clock, request_id_of(request), exc.code, message=exc.message, headers=exc.headers
    )


def install_error_handlers(app: FastAPI) -> None:
    """Make every framework error and unhandled exception answer with the envelope."""
    app.add_exception_handler(EnvelopeError, _envelope_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, unhandled_response)
