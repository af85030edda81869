"""One webhook delivery attempt: a signed POST to a vetted address, bounded every way.

:func:`deliver` vets the URL (:class:`~.ssrf.TargetGuard`: refused targets are never
contacted), then POSTs to the vetted addresses themselves — the request URL holds the
address, the ``Host`` header and the TLS server name (SNI, and the name the certificate
must match) hold the host name — so DNS is asked once, by the guard. Redirects are not
followed (a 3xx is a failed attempt: a redirect could lead anywhere); no proxy from the
environment is used; the whole attempt, resolving included, ends after ``time_limit``
seconds; at most ``max_response_bytes`` of the answer are read (undecoded:
``Accept-Encoding: identity`` is asked for) and kept as the excerpt, with anything that
looks like a signing secret or one of the request's signatures blanked out. Each attempt
uses a fresh connection.

The outcome is a :class:`DeliveryResult` for the delivery log: status, latency,
excerpt, and when the attempt failed, an :class:`AttemptError` kind and a sentence.
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

import httpx

from jditem._version import __version__
from jditem.server.monitor.ssrf import Target, TargetGuard, TargetRefused

USER_AGENT = f"jditem-webhooks/{__version__}"
_SECRETS = re.compile(r"whsec_[A-Za-z0-9+/=_-]+")


class AttemptError(StrEnum):
    """Why an attempt did not end in a 2xx."""

    REFUSED = "refused"  # the SSRF guard refused the target (nothing was contacted)
    DNS = "dns"  # the host did not resolve
    CONNECT = "connect"  # no connection to any vetted address
    TLS = "tls"  # the TLS handshake failed (certificate, protocol)
    TIMEOUT = "timeout"  # no answer within the attempt's time
    PROTOCOL = "protocol"  # the connection broke or the answer was not HTTP
    REDIRECT = "redirect"  # a 3xx answer (never followed)
    STATUS = "status"  # any other non-2xx answer


@dataclass(frozen=True)
class DeliveryResult:
    """What one attempt came to (for the delivery log; holds no secret)."""

    status: int | None
    latency: float  # seconds from the attempt's start to the answer's head (or the failure)
    excerpt: str = ""  # the start of the answer's body, secrets blanked
    error: AttemptError | None = None
    detail: str = ""  # a sentence on the failure; shows the URL's origin, never its path
    truncated: bool = False  # the body was longer than the bytes read
    address: str | None = None  # the vetted address that answered

    @property
    def ok(self) -> bool:
        """True when the receiver answered 2xx."""
        return self.error is None


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """The certificate store httpx uses (certifi), built once per process."""
    return httpx.create_ssl_context()


def _caused_by_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _redacted(text: str, headers: Mapping[str, str]) -> str:
    text = _SECRETS.sub("whsec_[redacted]", text)
    for name, value in headers.items():
        if name.lower() == "webhook-signature":
            for signature in value.split():
                text = text.replace(signature.partition(",")[2] or signature, "[redacted]")
    return text


async def deliver(
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    guard: TargetGuard,
    time_limit: float,
    max_response_bytes: int,
    ssl_context: ssl.SSLContext | None = None,
) -> DeliveryResult:
    """POST ``body`` with ``headers`` to ``url`` once, if ``guard`` lets it go there.

    ``headers`` are the signed headers (:func:`.signing.signature_headers`) and any
    extra; ``Content-Type: application/json`` and a ``User-Agent`` are added when
    absent, ``Host`` is always the URL's. Never raises for anything the network or the
    receiver does: every outcome is a :class:`DeliveryResult`.
    """
    started = time.monotonic()
    deadline = asyncio.get_running_loop().time() + time_limit

    def failed(error: AttemptError, detail: str, address: str | None = None) -> DeliveryResult:
        return DeliveryResult(None, time.monotonic() - started, "", error, detail, False, address)

    try:
        async with asyncio.timeout_at(deadline):
            target = await guard.vet(url)
    except TargetRefused as exc:
        kind = AttemptError.DNS if exc.reason == "unresolvable" else AttemptError.REFUSED
        return failed(kind, exc.message)
    except TimeoutError:
        return failed(AttemptError.TIMEOUT, f"resolving the host took longer than {time_limit:g} s")
    sent = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **{name.lower(): value for name, value in headers.items() if name.lower() != "host"},
        "accept-encoding": "identity",
        "host": target.host_header,
    }
    extensions = {"sni_hostname": target.host} if target.is_name else {}
    context = ssl_context or default_ssl_context()
    async with httpx.AsyncClient(
        verify=context,
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(time_limit),
        limits=httpx.Limits(max_keepalive_connections=0),
    ) as client:
        result = failed(AttemptError.CONNECT, f"{target.origin}: no address to connect to")
        for address in target.addresses:
            request = client.build_request(
                "POST", target.url_for(address), headers=sent, content=body, extensions=extensions
            )
            where = str(address)
            try:
                return await _attempt(
                    client, request, target, where, (deadline, started), max_response_bytes, headers
                )
            except (TimeoutError, httpx.TimeoutException):
                detail = f"{target.origin} did not answer within {time_limit:g} s"
                return failed(AttemptError.TIMEOUT, detail, where)
            except httpx.ConnectError as exc:
                if _caused_by_tls(exc):
                    return failed(AttemptError.TLS, f"{target.origin}: TLS failed: {exc}", where)
                detail = f"{target.origin}: cannot connect to {where}: {exc}"
                result = failed(AttemptError.CONNECT, detail, where)  # try the next address
            except httpx.HTTPError as exc:
                detail = f"{target.origin}: the connection broke: {type(exc).__name__}: {exc}"
                return failed(AttemptError.PROTOCOL, detail, where)
        return result


async def _attempt(
    client: httpx.AsyncClient,
    request: httpx.Request,
    target: Target,
    address: str,
    clock: tuple[float, float],
    max_response_bytes: int,
    signed: Mapping[str, str],
) -> DeliveryResult:
    deadline, started = clock
    async with asyncio.timeout_at(deadline):
        response = await client.send(request, stream=True)
    try:
        latency = time.monotonic() - started
        data, truncated = await _read_capped(response, max_response_bytes, deadline)
    finally:
        await response.aclose()
    excerpt = _redacted(data.decode("utf-8", errors="replace"), signed)
    status = response.status_code
    error: AttemptError | None = None
    detail = ""
    if 300 <= status < 400:
        location = urlsplit(response.headers.get("location", ""))
        where = f" to {location.scheme}://{location.netloc}" if location.netloc else ""
        error = AttemptError.REDIRECT
        detail = f"{target.origin} answered {status}, a redirect{where}; redirects are not followed"
    elif not 200 <= status < 300:
        error = AttemptError.STATUS
        detail = f"{target.origin} answered {status}"
    return DeliveryResult(status, latency, excerpt, error, detail, truncated, address)


async def _read_capped(response: httpx.Response, limit: int, deadline: float) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the body, and whether there was more (or it stopped)."""
    data = bytearray()
    try:
        async with asyncio.timeout_at(deadline):
            async for chunk in response.aiter_raw():
                data += chunk
                if len(data) > limit:
                    return bytes(data[:limit]), True
    except (TimeoutError, httpx.HTTPError):
        return bytes(data[:limit]), True
    return bytes(data), False
