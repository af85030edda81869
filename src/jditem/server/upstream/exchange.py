"""One bounded HTTP exchange with the upstream (SPEC §5).

:func:`exchange` sends one GET and reads the answer within two bounds:

* **time** — ``seconds`` for the *whole* exchange: connect, request, headers
  and body. httpx's own timeouts are per read, so a body trickling one byte at a time
  would never trip them; the exchange runs under one :func:`asyncio.timeout`.
* **size** — the body is streamed and kept only up to ``max_body`` bytes *after*
  decoding (a ``Content-Length`` above it is refused before reading; a gzip body is
  inflated with a bound, so a small compressed bomb cannot grow past it either). Only
  ``identity`` and ``gzip`` are asked for and accepted.

It never raises for the upstream's behaviour: the result is an :class:`Answer` (a
complete answer) or a :class:`Failure` naming what went wrong (``label``: "read
timeout", "connection lost", "body too large", ...) and whether the request may have
reached the upstream (``sent``, from httpcore's trace of the request headers being
written). A failure after sending is *ambiguous*: the upstream may have processed and
charged the call.
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass
from typing import Any

import httpx

#: Bound on the connect phase within the whole-exchange timeout.
CONNECT_SECONDS = 10.0


@dataclass(frozen=True)
class Answer:
    """A complete answer (any status); ``body`` is decoded and at most ``max_body``."""

    status: int
    headers: httpx.Headers
    body: bytes


@dataclass(frozen=True)
class Failure:
    """No complete answer: what happened, and whether the request may have been sent.

    ``outcome`` is the accounting outcome (the client core's names: ``timeout``,
    ``transport_error``, ``protocol_error``); ``detail`` is for the log (token-free).
    """

    label: str
    sent: bool
    outcome: str
    http_status: int | None = None
    detail: str = ""


class _BodyTooLarge(Exception):
    pass


class _UnsupportedEncoding(Exception):
    pass


class Progress:
    """How far an exchange got, from httpcore's ``trace`` extension."""

    def __init__(self) -> None:
        self.sent = False
        self.status: int | None = None

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook."""
        if event.endswith("send_request_headers.started"):
            self.sent = True  # from here on the upstream may have the request


def _inflater(encoding: str) -> Any:
    """A bounded decoder for ``Content-Encoding`` (None: identity)."""
    value = encoding.strip().lower()
    if value in ("", "identity"):
        return None
    if value in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    raise _UnsupportedEncoding(value)


async def _read_body(response: httpx.Response, max_body: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > max_body:
        raise _BodyTooLarge
    inflater = _inflater(response.headers.get("content-encoding", ""))
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        if inflater is not None:
            chunk = inflater.decompress(chunk, max_body - size + 1)
        size += len(chunk)
        if size > max_body:
            raise _BodyTooLarge
        parts.append(chunk)
    if inflater is not None:
        tail = inflater.flush()
        size += len(tail)
        if size > max_body:
            raise _BodyTooLarge
        parts.append(tail)
    return b"".join(parts)


async def exchange(
    http: httpx.AsyncClient,
    url: str,
    *,
    params: dict[str, str],
    headers: dict[str, str],
    seconds: float,
    max_body: int,
    progress: Progress | None = None,
) -> Answer | Failure:
    """One GET within ``seconds`` and ``max_body`` bytes (module docstring).

    ``progress`` (optional) lets the caller see how far the exchange got if it is
    cancelled.
    """
    progress = progress or Progress()
    limits = httpx.Timeout(seconds, connect=min(CONNECT_SECONDS, seconds))
    try:
        async with asyncio.timeout(seconds):
            async with http.stream(
                "GET",
                url,
                params=params,
                headers={**headers, "Accept-Encoding": "gzip, identity"},
                timeout=limits,
                extensions={"trace": progress.trace},
            ) as response:
                progress.status = response.status_code
                body = await _read_body(response, max_body)
                return Answer(response.status_code, response.headers, body)
    except _BodyTooLarge:
        return Failure(
            "body too large",
            sent=True,
            outcome="protocol_error",
            http_status=progress.status,
            detail=f"larger than upstream_max_body ({max_body} bytes)",
        )
    except _UnsupportedEncoding as exc:
        return Failure(
            "unsupported encoding",
            sent=True,
            outcome="protocol_error",
            http_status=progress.status,
            detail=f"Content-Encoding {exc}",
        )
    except (TimeoutError, httpx.TimeoutException) as exc:
        return _timeout(progress, exc, seconds)
    except (httpx.ConnectError, httpx.WriteError) as exc:
        return Failure("connect failed", sent=False, outcome="transport_error", detail=_name(exc))
    except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
        return Failure(
            "connection lost",
            sent=True,
            outcome="transport_error",
            http_status=progress.status,
            detail=_name(exc),
        )
    except httpx.HTTPError as exc:
        return Failure(
            "transport error",
            sent=progress.sent,
            outcome="transport_error",
            http_status=progress.status,
            detail=_name(exc),
        )


def _timeout(progress: Progress, exc: BaseException, seconds: float) -> Failure:
    if isinstance(exc, httpx.WriteTimeout):  # the request was not written out
        return Failure("send timeout", sent=False, outcome="timeout", detail=_name(exc))
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout) or not progress.sent:
        return Failure("connect timeout", sent=False, outcome="timeout", detail=_name(exc))
    label = "read timeout" if progress.status is None else "slow body"
    return Failure(
        label,
        sent=True,
        outcome="timeout",
        http_status=progress.status,
        detail=f"no complete answer within upstream_timeout_seconds ({seconds:g} s)",
    )


def _name(exc: BaseException) -> str:
    return type(exc).__name__
