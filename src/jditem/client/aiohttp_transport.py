"""An ``httpx.AsyncClient`` whose requests go through aiohttp (``pip install 'jditem[aiohttp]'``).

httpx's own async transport (httpcore) spends most of a fast batch's client CPU on its
connection pool: every request re-checks every idle connection (a ``poll`` and a
``getpeername`` system call each, through anyio). aiohttp's connector and C HTTP
parser do the same work for a fraction of that, so against a server that answers at
once the transport costs about a third of the CPU per call (``jditem batch`` uses it
when the extra is installed; see benchmarks/README.md). The OpenAI Python SDK offers
the same choice through the same library,
`httpx-aiohttp <https://pypi.org/project/httpx-aiohttp/>`_.

Everything above the transport stays httpx: requests, responses, timeouts and the
exceptions jditem classifies. aiohttp's exceptions are mapped onto httpx's by what
they mean for a paid call (not connected → :class:`httpx.ConnectError`; connection
lost or a malformed answer after the request was sent → :class:`httpx.ReadError` /
:class:`httpx.RemoteProtocolError`), and proxies come from the environment
(``HTTP(S)_PROXY``, ``NO_PROXY``) as with httpx's ``trust_env``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpx

from jditem import errors
from jditem.client.base import POOL_LIMITS

try:
    import aiohttp
    from httpx_aiohttp import AiohttpTransport
except ImportError:  # pragma: no cover - exercised only without the extra
    aiohttp = None  # type: ignore[assignment]
    AiohttpTransport = None  # type: ignore[assignment,misc]

__all__ = ["aiohttp_available", "aiohttp_http_client"]

#: aiohttp exception → the httpx exception jditem classifies; first match wins.
_EXCEPTIONS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = ()
if aiohttp is not None:
    _EXCEPTIONS = (
        (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
        (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
        (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
        (aiohttp.ClientHttpProxyError, httpx.ProxyError),
        (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
        (aiohttp.ClientConnectorError, httpx.ConnectError),
        (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
        (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError, httpx.ReadError),
        (aiohttp.ClientOSError, httpx.ReadError),
        (aiohttp.ClientError, httpx.TransportError),
        (TimeoutError, httpx.ReadTimeout),
    )


def _resend_switch_exists() -> bool:
    """Whether this aiohttp still has the (private) switch of its GET re-send."""
    return aiohttp is not None and "_retry_connection" in getattr(
        aiohttp.ClientSession, "ATTRS", ()
    )


def aiohttp_available() -> bool:
    """Whether the ``aiohttp`` extra is installed, in a version whose re-send of a GET
    after a broken connection (a second charge) jditem can switch off."""
    return AiohttpTransport is not None and _resend_switch_exists()


@contextmanager
def _mapped() -> Iterator[None]:
    """Raise aiohttp's failures (raw, or as httpx-aiohttp mapped them) as httpx's."""
    try:
        yield
    except httpx.HTTPError as exc:
        cause = exc.__cause__
        for source, target in _EXCEPTIONS:
            if isinstance(cause, source):
                if type(exc) is target:
                    raise
                raise target(str(cause)) from cause
        raise
    except (TimeoutError, aiohttp.ClientError) as exc:
        for source, target in _EXCEPTIONS:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise  # pragma: no cover - ClientError is always matched


class _Stream(httpx.AsyncByteStream):
    """The response body, its failures mapped like the request's."""

    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped():
            async for chunk in self._inner:
                yield chunk

    async def aclose(self) -> None:
        with _mapped():
            await self._inner.aclose()


if AiohttpTransport is not None:

    class _Transport(AiohttpTransport):
        """httpx-aiohttp's transport with jditem's exception mapping."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            with _mapped():
                response = await super().handle_async_request(request)
            assert isinstance(response.stream, httpx.AsyncByteStream)
            response.stream = _Stream(response.stream)
            return response


def aiohttp_http_client(
    *, timeout: httpx.Timeout, limits: httpx.Limits | None = None
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` over aiohttp, for ``AsyncClient(http_client=...)``.

    Certificates are verified, redirects are not followed (like jditem's own client),
    proxies come from the environment. The caller closes it (``await client.aclose()``).
    Raises :class:`~jditem.errors.ConfigurationError` when the extra is not installed.
    """
    if AiohttpTransport is None:
        raise errors.ConfigurationError(
            "the aiohttp transport needs the aiohttp extra: pip install 'jditem[aiohttp]' "
            "(or use the default transport, httpx)"
        )
    if not _resend_switch_exists():
        problem = (
            f"aiohttp {aiohttp.__version__} no longer lets jditem switch off its re-send of "
            "a GET after a broken connection (a second charge)"
        )
        raise errors.ConfigurationError(
            f"{problem}: use httpx's own transport (the client's default)",
            problem=problem,
            option="transport",
        )
    limits = limits or POOL_LIMITS
    ssl_context = httpx.create_ssl_context(verify=True, trust_env=True)

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            keepalive_timeout=limits.keepalive_expiry or 15.0,
            ssl=ssl_context,
        )
        session = aiohttp.ClientSession(connector=connector, trust_env=True)
        # aiohttp sends a GET again, once, when the connection broke after the request
        # went out; for a paid call that is a second charge. jditem decides about
        # retries itself (a broken connection is not retried: ConnectionLostError).
        # aiohttp has no public switch; its own test client turns it off the same way,
        # and tests/client/test_aiohttp_transport.py checks it stays off.
        session._retry_connection = False
        return session

    transport = _Transport(client=session, limits=limits)
    return httpx.AsyncClient(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=True
    )
