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

Not covered: Apprise resolves the name again when it connects (the guard's check and the
connection are two lookups — a DNS-rebinding window the signed webhooks do not have),
and it follows the redirects its services answer with.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from typing import Any
from urllib.parse import urlsplit

from jditem.server.monitor.sending import AttemptError, DeliveryResult
from jditem.server.monitor.ssrf import TargetGuard, TargetRefused

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


def _module() -> Any:
    try:
        return importlib.import_module("apprise")
    except ImportError:
        raise TargetRefused("apprise-missing", MISSING) from None


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


def _notify(inner: str, title: str, text: str, time_limit: float) -> bool:
    sender = _module().Apprise()
    if not sender.add(inner):
        return False
    for plugin in sender:
        plugin.socket_connect_timeout = time_limit
        plugin.socket_read_timeout = time_limit
    return bool(sender.notify(body=text, title=title))


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
    try:
        sent = await asyncio.wait_for(
            asyncio.to_thread(_notify, inner, title, text, time_limit), time_limit * 2 + 1
        )
    except TimeoutError:
        detail = f"Apprise ({scheme}://) took longer than {time_limit:g} s"
        return failed(AttemptError.TIMEOUT, detail)
    if not sent:
        return failed(
            AttemptError.STATUS,
            f"Apprise could not deliver to the {scheme}:// service (it gives no reason; "
            "the server log has Apprise's own warning)",
        )
    return DeliveryResult(200, time.monotonic() - started, "sent through Apprise")
