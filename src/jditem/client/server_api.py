"""Requests to a jditem server's own APIs (watch lists, the change feed, webhooks).

These endpoints exist only on a jditem server (not at the vendor): token-authenticated
with ``Authorization: Bearer``, free, answered in the envelope of SPEC §2.1. The
I/O-free cores (:mod:`.watch`, :mod:`.webhooks`) build :class:`ApiRequest` objects;
:func:`send` and :func:`send_async` are the only I/O, and :func:`answer_data` turns an
answer into its ``data`` or the typed error of its code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from jditem import errors
from jditem.client.base import BaseClient
from jditem.protocol.envelope import Envelope

__all__ = ["ApiRequest", "answer_data", "api_request", "send", "send_async", "transport_error"]


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One HTTP request to a server API (the token in ``headers``: never log them)."""

    method: str
    url: str
    headers: dict[str, str]
    json: Any = None
    params: dict[str, str] | None = None


def api_request(
    base: BaseClient,
    method: str,
    root: str,
    path: str = "",
    json: Any = None,
    params: dict[str, str] | None = None,
) -> ApiRequest:
    """A request of ``root + path`` (e.g. ``/api/webhooks`` + ``/3``) with the client's
    token and user agent."""
    config = base.config
    headers = {
        "User-Agent": config.user_agent,
        "Accept": "application/json",
        "Authorization": f"Bearer {config.token.get_secret_value()}",
    }
    url = config.base_url.rstrip("/") + root + path
    return ApiRequest(method, url, headers, json, params)


def answer_data(status: int, headers: Mapping[str, str], body: bytes) -> Any:
    """The ``data`` of a code-0 answer; else the :class:`~jditem.errors.APIError` of its
    code (with the server's message), or :class:`~jditem.errors.ProtocolError`."""
    request_id = headers.get("x-request-id")
    try:
        envelope = Envelope.model_validate_json(body)
    except ValueError:
        raise errors.ProtocolError(
            f"the answer (HTTP {status}) is not a jditem envelope: is the base URL a "
            "jditem server (watch lists need one, version 0.x with monitoring)?",
            http_status=status,
            request_id=request_id,
        ) from None
    if envelope.code == 0:
        return envelope.data
    cls = errors.error_for_code(envelope.code)
    message = envelope.message or f"code {envelope.code}"
    raise cls(
        message,
        code=envelope.code,
        http_status=status,
        request_id=envelope.request_id or request_id,
        data=envelope.data,
    )


def transport_error(exc: httpx.HTTPError, request: ApiRequest) -> errors.JditemError:
    """The error of a request that got no answer (what to check, never the token)."""
    where = request.url.split("/api/", 1)[0]
    return errors.TransportError(
        f"could not talk to {where}: {type(exc).__name__}; check --base-url and that the "
        "server runs, then try again"
    )


def send(http: httpx.Client, request: ApiRequest) -> Any:
    """Send ``request`` and return its answer's ``data`` (:func:`answer_data`)."""
    try:
        response = http.request(
            request.method,
            request.url,
            headers=request.headers,
            json=request.json,
            params=request.params,
        )
    except httpx.HTTPError as exc:
        raise transport_error(exc, request) from None
    return answer_data(response.status_code, response.headers, response.content)


async def send_async(http: httpx.AsyncClient, request: ApiRequest) -> Any:
    """The awaitable twin of :func:`send`."""
    try:
        response = await http.request(
            request.method,
            request.url,
            headers=request.headers,
            json=request.json,
            params=request.params,
        )
    except httpx.HTTPError as exc:
        raise transport_error(exc, request) from None
    return answer_data(response.status_code, response.headers, response.content)
