"""Chat and mail channels through Apprise (SPEC §6.3, issue 20 item 6; the optional extra
``pip install 'jditem[apprise]'``).

An endpoint whose URL starts with ``apprise://`` holds an Apprise URL after the prefix
(``apprise://tgram://BOT_TOKEN/CHAT_ID``, ``apprise://json://receiver.example/hook``…).
Its deliveries go through the same outbox, retry schedule and attempt log as a signed
webhook's; each attempt sends a short text (title and the changed fields) through
Apprise instead of the signed JSON body, so a receiver gets no ``webhook-*`` headers.

What the SSRF guard covers here (:func:`vet`, at creation and before every attempt):

* schemes that name the host contacted (:data:`HOSTED`: Apprise's generic JSON/XML/form
  webhooks, and SMTP mail, whose SMTP server is the host) — the host and port are
  vetted by :class:`.ssrf.TargetGuard` exactly like a webhook's (public addresses only
  unless ``webhook_allow_networks`` allows the network; the plain variants only there);
* chat services whose API host Apprise fixes (:data:`FIXED_HOST`) — nothing to vet: the
  URL chooses a bot, a channel, a token, never where the request goes;
* every other Apprise scheme is refused (it could name a host the guard cannot see).

Apprise resolves names itself when it connects (the guard's check and the connection are
two lookups), and it follows the redirects its services answer with. So every name
resolved while Apprise sends — the vetted host again, a redirect's host, a chat
service's API host, an SMTP server — goes through the same guard at that moment
(:func:`resolving_through`): an answer with an address the guard refuses (or, for the
plain ``json://``, ``xml://``, ``form://`` and ``mailto://``, an address outside the
allowed networks) fails the connection, and the attempt is logged as refused with the
guard's reason. A DNS answer that changes between the check and the connection (DNS
rebinding) or a redirect to a private address therefore reaches nothing. (An HTTP proxy
from the environment is an address like any other: allow its network.)

Logging: Apprise's log lines (and those of urllib3, the HTTP library under it) can carry a
channel's tokens — a Telegram bot token is in the URL it posts to. Once Apprise is loaded,
neither logger reaches the server's log handlers. Apprise keeps each call's own log lines
in its result; the first warning of a failed call, with every part of the channel's URL
blanked out (:func:`scrubbed`), is the reason the attempt log shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib
import ipaddress
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from jditem.server.monitor.sending import AttemptError, DeliveryResult
from jditem.server.monitor.ssrf import ALLOW_HINT, TargetGuard, TargetRefused

#: The prefix that makes an endpoint an Apprise channel.
PREFIX = "apprise://"
#: Schemes whose URL names the host contacted: vetted by the guard (True: TLS).
HOSTED = {
    "json": False,
    "jsons": True,
    "xml": False,
    "xmls": True,
    "form": False,
    "forms": True,
    "mailto": False,
    "mailtos": True,
}
#: Chat services whose API host Apprise fixes.
FIXED_HOST = frozenset({"tgram", "slack", "discord", "dingtalk", "wecombot", "feishu", "lark"})
#: What the user is told when the extra is missing.
MISSING = "Apprise endpoints need the optional extra: pip install 'jditem[apprise]'"


def is_apprise(url: str) -> bool:
    """True when ``url`` is an Apprise channel (``apprise://…``)."""
    return url[: len(PREFIX)].lower() == PREFIX


#: Longest reason kept from Apprise's warnings.
REASON_CHARS = 300


def _module() -> Any:
    try:
        module = importlib.import_module("apprise")
    except ImportError:
        raise TargetRefused("apprise-missing", MISSING) from None
    for name in ("apprise", "urllib3"):  # their lines can carry a channel's tokens
        logger = logging.getLogger(name)
        if logger.propagate:
            logger.addHandler(logging.NullHandler())  # not even logging's last resort
            logger.propagate = False
    return module


def scrubbed(text: str, url: str) -> str:
    """``text`` with every part of the channel ``url`` (user, password, host, path
    segments, query values — as written and percent-decoded) blanked out as ``…``, and
    at most :data:`REASON_CHARS` characters long."""
    inner = url[len(PREFIX) :] if is_apprise(url) else url
    rest = inner.split("://", 1)[-1]
    parts = {p for raw in re.split(r"[/:@?&=#,]+", rest) for p in (raw, unquote(raw))}
    for part in sorted((p for p in parts if len(p) >= 3), key=len, reverse=True):
        text = text.replace(part, "…")
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


async def vet(url: str, guard: TargetGuard) -> None:
    """Raise :class:`.ssrf.TargetRefused` (a message saying what to do) unless ``url`` is
    an Apprise URL jditem may send to; see the module for what is checked."""
    inner = url[len(PREFIX) :]
    scheme = inner.split("://", 1)[0].lower() if "://" in inner else ""
    if scheme not in HOSTED and scheme not in FIXED_HOST:
        known = ", ".join(sorted({*HOSTED, *FIXED_HOST}))
        raise TargetRefused(
            "apprise-scheme",
            f"give an Apprise URL after apprise:// with one of the schemes {known}; "
            f"got {scheme + '://' if scheme else 'no scheme'}",
        )
    plugin = _module().Apprise.instantiate(inner)
    if plugin is None:
        raise TargetRefused(
            "apprise-url",
            f"Apprise cannot read this {scheme}:// URL; see the Apprise documentation "
            "of the service for its form",
        )
    if scheme in HOSTED:
        # mail goes to the SMTP server (``?smtp=`` or the provider's), not the address's domain
        host = str(getattr(plugin, "smtp_host", "") or urlsplit(inner).hostname or "")
        port = getattr(plugin, "port", None)
        web = "https" if HOSTED[scheme] else "http"
        await guard.vet(f"{web}://{host}{f':{port}' if port else ''}/")


def shown(url: str) -> str:
    """``url`` as pages and the API show it: Apprise's privacy form (tokens and passwords
    shortened, no options), or just the scheme when Apprise cannot read it here."""
    inner = url[len(PREFIX) :]
    scheme = inner.split("://", 1)[0]
    try:
        plugin = _module().Apprise.instantiate(inner)
    except TargetRefused:
        plugin = None
    if plugin is None:
        return f"{PREFIX}{scheme}://…"
    return PREFIX + str(plugin.url(privacy=True)).split("?", 1)[0]


def summary(payload: dict[str, Any]) -> tuple[str, str]:
    """A title and a short text for a chat message about the webhook ``payload``."""
    data = payload.get("data") or {}
    kinds = ", ".join(data.get("kinds") or [payload.get("type", "event")])
    item = data.get("itemId")
    title = f"jditem: {kinds}" + (f" on item {item}" if item else "")
    lines = [str(data["title"])] if data.get("title") else []
    for change in data.get("changes") or []:
        lines.append(f"{change.get('field')}: {change.get('before')} → {change.get('after')}")
    if data.get("message"):
        lines.append(str(data["message"]))
    lines.append(f"event {data.get('id', '')}")
    return title, "\n".join(lines)


@dataclass
class GuardedResolution:
    """The guard in force inside :func:`resolving_through`; ``refused``: the first
    refusal, as the attempt log shows it."""

    guard: TargetGuard
    plain: bool
    refused: str | None = None


#: The resolution guard in force, if any: a context variable, so the threads Apprise
#: hands a send to (it copies the caller's context) are guarded too.
_guarded: contextvars.ContextVar[GuardedResolution | None] = contextvars.ContextVar(
    "jditem_apprise_resolution", default=None
)
_system_getaddrinfo = socket.getaddrinfo
_install_lock = threading.Lock()


def _checked_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    """``socket.getaddrinfo``; inside :func:`resolving_through`, an answer holding an
    address the guard refuses raises ``socket.gaierror`` instead."""
    answers = _system_getaddrinfo(host, port, *args, **kwargs)
    resolution = _guarded.get()
    if resolution is None:
        return answers
    for *_, sockaddr in answers:
        try:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        except ValueError:
            problem: str | None = f"{sockaddr[0]!r}, not an address"
        else:
            problem = resolution.guard.address_problem(address)
            if problem is None and resolution.plain and not resolution.guard.allowed(address):
                problem = f"{address} is outside the allowed networks and the scheme is plain"
        if problem is not None:
            name = host.decode() if isinstance(host, bytes) else str(host)
            found = f"when Apprise connected, {name} resolved to an address the guard refuses"
            resolution.refused = resolution.refused or f"{found}: {problem}"
            raise socket.gaierror(socket.EAI_FAIL, "refused by jditem's webhook guard")
    return answers


def _install_checked_getaddrinfo() -> None:
    """Route ``socket.getaddrinfo`` through :func:`_checked_getaddrinfo` (once; lookups
    outside :func:`resolving_through` get the system's answer unchanged)."""
    with _install_lock:
        if socket.getaddrinfo is not _checked_getaddrinfo:
            socket.getaddrinfo = _checked_getaddrinfo


@contextlib.contextmanager
def resolving_through(guard: TargetGuard, *, plain: bool) -> Iterator[GuardedResolution]:
    """While in the block, every name resolved in this context (``socket.getaddrinfo``;
    Apprise's worker threads run in a copy of it) must answer addresses ``guard`` lets a
    webhook reach — inside its allowed networks when ``plain`` — else the lookup fails
    and the refusal is kept in the yielded object."""
    _install_checked_getaddrinfo()
    resolution = GuardedResolution(guard, plain)
    reset = _guarded.set(resolution)
    try:
        yield resolution
    finally:
        _guarded.reset(reset)


def _notify(
    inner: str, title: str, text: str, time_limit: float, guard: TargetGuard, plain: bool
) -> tuple[AttemptError, str] | None:
    """Send through Apprise, every name it resolves checked by ``guard``; None
    when sent, else the error and why (unscrubbed): the guard's refusal, or the first
    warning Apprise logged for this call (Apprise ≥ 2.3 keeps them in its result)."""
    sender = _module().Apprise()
    if not sender.add(inner):
        return AttemptError.STATUS, "Apprise could not read the URL"
    for plugin in sender:
        plugin.socket_connect_timeout = time_limit
        plugin.socket_read_timeout = time_limit
    with resolving_through(guard, plain=plain) as resolution:
        result = sender.notify(body=text, title=title)
    if resolution.refused is not None:
        return AttemptError.REFUSED, resolution.refused
    if result:
        return None
    logs = getattr(result, "logs", None)
    for entry in logs() if callable(logs) else ():
        if entry.level in ("WARNING", "ERROR", "CRITICAL"):
            return AttemptError.STATUS, str(entry.message)
    return AttemptError.STATUS, "Apprise gave no reason"


async def send(
    url: str, payload: dict[str, Any], *, guard: TargetGuard, time_limit: float
) -> DeliveryResult:
    """One attempt: vet ``url`` again, then send ``payload``'s summary through Apprise.
    Never raises for what the network or the service does."""
    started = time.monotonic()
    scheme = url[len(PREFIX) :].split("://", 1)[0]

    def failed(error: AttemptError, detail: str) -> DeliveryResult:
        return DeliveryResult(None, time.monotonic() - started, "", error, detail)

    try:
        await asyncio.wait_for(vet(url, guard), time_limit)
    except TargetRefused as exc:
        kind = AttemptError.DNS if exc.reason == "unresolvable" else AttemptError.REFUSED
        return failed(kind, exc.message)
    except TimeoutError:
        return failed(AttemptError.TIMEOUT, f"resolving the host took longer than {time_limit:g} s")
    title, text = summary(payload)
    inner = url[len(PREFIX) :]
    plain = HOSTED.get(scheme.lower()) is False
    try:
        why_not = await asyncio.wait_for(
            asyncio.to_thread(_notify, inner, title, text, time_limit, guard, plain),
            time_limit * 2 + 1,
        )
    except TimeoutError:
        detail = f"Apprise ({scheme}://) took longer than {time_limit:g} s"
        return failed(AttemptError.TIMEOUT, detail)
    if why_not is None:
        return DeliveryResult(200, time.monotonic() - started, "sent through Apprise")
    error, reason = why_not
    if error is AttemptError.REFUSED:
        # the guard's own words: a host name and an address, no part of the URL's secrets
        return failed(error, f"the {scheme}:// channel is refused: {reason}; {ALLOW_HINT}")
    return failed(
        error, f"Apprise could not deliver to the {scheme}:// service: {scrubbed(reason, url)}"
    )
