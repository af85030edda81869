"""``GET /api/jd/get-item-detail/v2`` — the task-backed product endpoint (SPEC §2)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Header, Query, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.responses import Response
from starlette.types import Scope

from jditem.protocol.ids import KEYS_HONOURED_HEADER, keys_honoured_value
from jditem.server.api.envelope import envelope_response, request_id_of
from jditem.server.api.models import EnvelopeModel, envelope_responses
from jditem.server.context import ServerContext

#: The path of the endpoint (also served by the fast path, :mod:`jditem.server.http.fast_path`).
V2_PATH = "/api/jd/get-item-detail/v2"

#: The 100 message when no token was sent at all (a message, not a secret).
MISSING_TOKEN = "missing token: send 'Authorization: Bearer <token>' or ?token=<token>"  # noqa: S105

bearer = HTTPBearer(
    auto_error=False,
    description="The API token as 'Authorization: Bearer <token>' (preferred over ?token=).",
)


def token_from(request: Request) -> tuple[str | None, str | None]:
    """(raw token, problem) from the Authorization header and/or ?token=.

    A credential given twice in the same form (two ``Authorization`` headers, two
    ``?token=``, also when one is percent-encoded) is refused, never guessed.
    """
    return _token_of(
        request.headers.getlist("authorization"), request.query_params.getlist("token")
    )


def _token_of(headers: list[str], query_tokens: list[str]) -> tuple[str | None, str | None]:
    """:func:`token_from` on the ``Authorization`` header values and ``?token=`` values."""
    if len(headers) > 1:
        return None, (
            "invalid token: the Authorization header was sent more than once; send it once"
        )
    header = headers[0] if headers else None
    header_token = None
    if header:
        scheme, value = get_authorization_scheme_param(header)
        if scheme.lower() == "bearer" and value:
            header_token = value
    if len(query_tokens) > 1:
        return None, "invalid token: ?token= was given more than once; pass it once"
    query_token = query_tokens[0] if query_tokens else None
    if header_token and query_token and header_token != query_token:
        return None, (
            "invalid token: the Authorization header and ?token= disagree; send the token once"
        )
    return header_token or query_token or None, None


def _item_of(values: list[str]) -> tuple[str | None, str | None]:
    """(raw itemId, problem) — a repeated itemId is refused rather than guessed."""
    if len(values) > 1:
        return None, "itemId was given more than once; pass exactly one itemId per call"
    return (values[0] if values else None), None


def query_pairs(query_string: str) -> list[tuple[str, str]]:
    """``parse_qsl(query_string, keep_blank_values=True)``, without its per-pair
    unquoting when nothing in the string is escaped (no ``%``, no ``+``)."""
    if "%" in query_string or "+" in query_string:
        return parse_qsl(query_string, keep_blank_values=True)
    pairs = []
    for part in query_string.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((name, value))
    return pairs


#: Placeholder key handed to admission when the header was repeated (fails its check).
_REPEATED_KEY = ""


def _key_of(values: list[str]) -> str | None:
    """The ``Idempotency-Key`` header (None when absent).

    A repeated header yields an empty key, which step 3 refuses like any malformed key.
    """
    if not values:
        return None
    return values[0] if len(values) == 1 else _REPEATED_KEY


async def answer_scope(ctx: ServerContext, scope: Scope, request_id: str) -> Response:
    """Admission (SPEC §2.4), then the cached result or the item's task, for the request
    of ``scope`` — the work of the route, shared with the fast path
    (:mod:`jditem.server.http.fast_path`), which sends the same response's bytes.

    Reads the headers and the query string as Starlette's ``Request`` would (header
    values and the query string decoded as Latin-1, blank query values kept), without
    building one.
    """
    authorization: list[str] = []
    keys: list[str] = []
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization.append(value.decode("latin-1"))
        elif name == b"idempotency-key":
            keys.append(value.decode("latin-1"))
    query = query_pairs(scope["query_string"].decode("latin-1"))
    raw_token, token_problem = _token_of(authorization, [v for k, v in query if k == "token"])
    item_raw, item_problem = _item_of([v for k, v in query if k == "itemId"])
    key = _key_of(keys)
    admission = ctx.admission
    identity = None if token_problem else await admission.authenticate(raw_token)
    if identity is None and token_problem is None and raw_token is None:
        token_problem = MISSING_TOKEN
    answer = await admission.answer(
        identity,
        item_raw,
        request_id,
        token_problem=token_problem,
        param_problem=item_problem,
        idempotency_key=key,
    )
    # Every answer says that Idempotency-Key is honoured (and for how long): the evidence
    # a client needs before it resends a call whose answer was lost (SPEC §4).
    honoured = keys_honoured_value(ctx.settings.idempotency_ttl_seconds)
    return envelope_response(
        ctx.settings,
        ctx.clock,
        request_id,
        answer.code,
        message=answer.message,
        data=answer.data,
        headers={KEYS_HONOURED_HEADER: honoured, **answer.headers},
        data_json=answer.body,
    )


async def serve(request: Request) -> Response:
    """The route's handler: :func:`answer_scope` for ``request``."""
    return await answer_scope(request.app.state.ctx, request.scope, request_id_of(request))


class SelfParsingRoute(APIRoute):
    """A route whose endpoint *signature* documents the parameters (OpenAPI) while each
    request goes straight to :func:`serve`.

    :func:`serve` reads the token and ``itemId`` from the request itself — it has to:
    a repeated parameter, or a header and a query token that disagree, get their own
    messages — so FastAPI's per-request dependency solving and parameter validation
    would be work thrown away on the hottest path. (Overriding ``get_route_handler``
    is FastAPI's documented extension point for custom route classes.)
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return serve


router = APIRouter(tags=["v2"], route_class=SelfParsingRoute)


@router.get(
    V2_PATH,
    summary="JD.com product details (task-backed)",
    response_model=EnvelopeModel,
    responses=envelope_responses(202, 400, 401, 402, 403, 429, 500, 503),
    description=(
        "Submits a collection task for the JD item and returns its result. If the data "
        "is not ready within the server's wait, answers code 102 (HTTP 202) with the task "
        "status; call again with the same itemId after `retryAfter` seconds. Only code 0 "
        "is charged. Every response is the envelope `{code, message, data, recordTime, "
        "requestId}`; see SPEC §2.2 for the codes.\n\n"
        "**Idempotency-Key** (optional header, 1-128 printable ASCII characters): once a "
        "call with this token and key has been charged for the item, later calls with the "
        "same key and item (for `idempotency_ttl_seconds`, default 24 h) answer the product "
        "free of charge, with the response header `Idempotent-Replayed: true`; they skip "
        "the daily quota, budget and balance checks (the item was paid for) but not the "
        "token, permission, parameter and rate-limit checks. The same key with another "
        "item is code 400. Use one key per item and logical fetch, e.g. "
        "`<job>-<item id>`, so a retry after a crash or a lost response is never charged "
        "twice. Every answer carries `Idempotency-Key-Honoured: ttl=<seconds>`: the evidence "
        "a client needs before it resends a call whose answer was lost."
    ),
)
async def get_item_detail_v2(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, bearer] = None,
    itemId: Annotated[
        str | None,
        Query(description="JD item (SKU) id: 1-20 ASCII digits.", examples=["100012043978"]),
    ] = None,
    token: Annotated[
        str | None,
        Query(description="API token (compatibility form; prefer the Authorization header)."),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description=(
                "Optional, 1-128 printable ASCII characters, unique per item and logical "
                "fetch: a repeat with the same token, key and itemId is not charged again "
                "(answered with `Idempotent-Replayed: true`); the same key with another "
                "itemId is code 400."
            ),
            min_length=1,
            max_length=128,
            examples=["jditem-4f1c2a-0-100012043978"],
        ),
    ] = None,
) -> Response:  # pragma: no cover - documentation only, see SelfParsingRoute
    """Documents the endpoint's parameters; requests are served by :func:`serve`."""
    return await serve(request)
