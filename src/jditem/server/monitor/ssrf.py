"""Where a webhook may go: the SSRF guard (SPEC §6.3).

A webhook URL is user input that points the server at a network. :class:`TargetGuard`
vets it — when an endpoint is created, and again before every delivery, since DNS
answers change — and returns a :class:`Target` holding the addresses it vetted; the
delivery (:mod:`.sending`) connects to exactly those addresses, so nothing is resolved
between the check and the connection (DNS rebinding).

The rules:

* ``https://`` only. Plain ``http://`` is allowed when every address the host resolves
  to lies in a network the operator allows (``JDITEM_WEBHOOK_ALLOW_NETWORKS``): such a
  network is the operator's own (a LAN, or loopback in tests), where TLS is theirs to
  decide.
* No user name or password in the URL (deliveries are authenticated by their
  signature, and the URL is shown in logs), no fragment, no spaces, control characters
  or backslashes; hosts are normalised the way browsers and ``getaddrinfo`` read them:
  ``2130706433``, ``0x7f.1``, ``0177.0.0.1`` and ``127.1`` are all 127.0.0.1,
  ``[::ffff:127.0.0.1]`` is 127.0.0.1, a trailing dot is dropped, names are lower-cased
  and IDNA-encoded.
* Every resolved address must be public: not loopback, private, shared (CGNAT),
  link-local, multicast, reserved, unspecified, or one of this server's own addresses;
  an IPv6 address that carries an IPv4 one (6to4, Teredo, NAT64) is judged by that too.
  A network in ``allow_networks`` is allowed whatever it is.

A refusal is a :class:`TargetRefused` whose message names the rule; messages show the
URL's origin only (a path or query may hold the receiver's own secret).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from jditem.server.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``await resolver(host, port)`` → the host's addresses as text (raises ``OSError``).
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"https": 443, "http": 80}
ALLOW_HINT = (
    "webhooks go to public addresses only (an operator can allow a network with "
    "JDITEM_WEBHOOK_ALLOW_NETWORKS)"
)
_PRIVATE = tuple(
    ipaddress.ip_network(net)
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_HEX, _OCTAL, _DECIMAL = re.compile(r"[0-9a-f]*"), re.compile(r"[0-7]*"), re.compile(r"[0-9]+")


class TargetRefused(ValueError):
    """A webhook URL the guard refuses; ``reason`` is a short code, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Target:
    """A vetted webhook URL: where to connect (``addresses``) and what to say (``host``)."""

    scheme: str
    host: str  # the normalised name, or the address's text for a literal
    port: int
    path: str  # path and query, as given ("/" when empty)
    addresses: tuple[IPAddress, ...]
    is_name: bool

    @property
    def origin(self) -> str:
        """``scheme://host:port`` — what messages and logs may show."""
        return f"{self.scheme}://{_bracketed(self.host)}:{self.port}"

    @property
    def host_header(self) -> str:
        """The ``Host`` header: the name (or literal) the user gave, port when not default."""
        shown = _bracketed(self.host)
        return shown if DEFAULT_PORTS[self.scheme] == self.port else f"{shown}:{self.port}"

    def url_for(self, address: IPAddress) -> str:
        """The request URL that connects to ``address`` itself (no lookup at connect time)."""
        return f"{self.scheme}://{_bracketed(str(address))}:{self.port}{self.path}"


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _ipv4_number(part: str) -> int | None:
    if part[:2] == "0x":
        digits, pattern, base = part[2:], _HEX, 16
    elif len(part) > 1 and part.startswith("0"):
        digits, pattern, base = part[1:], _OCTAL, 8
    else:
        digits, pattern, base = part, _DECIMAL, 10
    if not pattern.fullmatch(digits):
        return None
    return int(digits, base) if digits else 0


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address ``host`` stands for in any form browsers and ``inet_aton`` accept
    (``2130706433``, ``0x7f.0.0.1``, ``0177.1``, ``127.1``, a trailing dot), or ``None``
    when ``host`` is a name. A host ending in a number that is no valid address is refused
    (the WHATWG URL standard's rule)."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    last = parts[-1]
    if not (_DECIMAL.fullmatch(last) or (last[:2] == "0x" and _HEX.fullmatch(last[2:]))):
        return None
    numbers = [_ipv4_number(part) for part in parts]
    if len(parts) > 4 or None in numbers:
        raise TargetRefused("host", f"{host!r} ends in a number but is not an IPv4 address")
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise TargetRefused("host", f"{host!r} is out of the IPv4 range")
    value = values[-1] + sum(n << (8 * (3 - i)) for i, n in enumerate(values[:-1]))
    return ipaddress.IPv4Address(value)


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _carried_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return address.teredo[1] if address.teredo is not None else None


def _category(address: IPAddress, own: frozenset[IPAddress]) -> str | None:
    """What makes ``address`` unfit for a webhook, or ``None`` when it is public."""
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (any(address in net for net in _PRIVATE), "a private address"),
        (address in _SHARED, "a shared (carrier-grade NAT) address"),
        (address in own, "one of this server's own addresses"),
    )
    for hit, what in checks:
        if hit:
            return what
    if any(address in net for net in _NAT64):
        return None  # judged by the IPv4 address it carries
    if address.is_reserved or not address.is_global:
        return "a reserved or special-purpose address (not publicly routable)"
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer for ``host`` (``getaddrinfo``, TCP)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@functools.cache
def server_addresses() -> frozenset[IPAddress]:
    """This host's own addresses: its name's, and the source address of its routes to the
    Internet (a UDP ``connect`` picks a route and sends nothing)."""
    found: set[IPAddress] = set()
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, type=socket.SOCK_STREAM):
            found.add(ipaddress.ip_address(str(info[4][0]).split("%")[0]))
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((probe, 9))
            found.add(ipaddress.ip_address(str(sock.getsockname()[0]).split("%")[0]))
    return frozenset(_unmapped(address) for address in found)


def _refuse_unless(ok: bool, reason: str, message: str) -> None:
    if not ok:
        raise TargetRefused(reason, message)


def parse_webhook_url(url: str) -> Target:
    """Split and normalise ``url`` (no lookup; a name's ``addresses`` are left empty);
    :class:`TargetRefused` when malformed."""
    _refuse_unless(
        len(url) <= MAX_URL_LENGTH,
        "malformed",
        f"a webhook URL has at most {MAX_URL_LENGTH} characters",
    )
    _refuse_unless(
        not any(c.isspace() or not c.isprintable() or c == "\\" for c in url),
        "malformed",
        "a webhook URL must not contain spaces, control characters or backslashes",
    )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused("malformed", f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    _refuse_unless(scheme in DEFAULT_PORTS, "scheme", "a webhook URL must start with https://")
    _refuse_unless(
        "@" not in parts.netloc,
        "userinfo",
        "a webhook URL must not contain a user name or password (deliveries are "
        "authenticated by their signature)",
    )
    _refuse_unless(
        "#" not in url, "fragment", "a webhook URL must not have a #fragment (it is never sent)"
    )
    host = parts.hostname or ""
    _refuse_unless(bool(host), "host", "a webhook URL needs a host")
    _refuse_unless(port != 0, "port", "port 0 cannot be connected to")
    address: IPAddress | None
    if parts.netloc.startswith("["):
        try:
            address = _unmapped(ipaddress.IPv6Address(host.split("%")[0]))
        except ValueError:
            raise TargetRefused("host", f"[{host}] is not an IPv6 address") from None
    else:
        _refuse_unless("%" not in host, "host", "a webhook host must not be percent-encoded")
        address = parse_ipv4(host)
    host = str(address) if address is not None else _normalised_name(host)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    literal = (address,) if address is not None else ()
    return Target(scheme, host, port or DEFAULT_PORTS[scheme], path, literal, address is None)


def _normalised_name(host: str) -> str:
    name = host[:-1] if host.endswith(".") else host
    try:
        name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        raise TargetRefused("host", f"{host!r} is not a valid host name") from None
    labels = name.split(".")
    valid = len(name) <= 253 and all(_LABEL.fullmatch(label) for label in labels)
    _refuse_unless(valid, "host", f"{host!r} is not a valid host name")
    return name


def _networks(entries: Iterable[str | IPNetwork]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


@dataclass(frozen=True)
class TargetGuard:
    """Vets webhook URLs: the allowed networks, this server's own addresses, a resolver."""

    allow_networks: tuple[IPNetwork, ...] = ()
    own_addresses: frozenset[IPAddress] = field(default_factory=server_addresses)
    resolver: Resolver = system_resolver

    @classmethod
    def create(
        cls,
        allow_networks: Iterable[str | IPNetwork] = (),
        *,
        own_addresses: Iterable[IPAddress] | None = None,
        resolver: Resolver = system_resolver,
    ) -> TargetGuard:
        """A guard allowing ``allow_networks`` (CIDR strings or networks)."""
        own = server_addresses() if own_addresses is None else frozenset(own_addresses)
        return cls(_networks(allow_networks), own, resolver)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, resolver: Resolver = system_resolver
    ) -> TargetGuard:
        """The guard of ``JDITEM_WEBHOOK_ALLOW_NETWORKS``."""
        return cls.create(settings.webhook_allow_networks, resolver=resolver)

    def allowed(self, address: IPAddress) -> bool:
        """True when ``address`` lies in a network the operator allows."""
        plain = _unmapped(address)
        return any(plain in net for net in self.allow_networks)

    def address_problem(self, address: IPAddress) -> str | None:
        """Why a webhook may not go to ``address`` (a phrase), or ``None``."""
        plain = _unmapped(address)
        if self.allowed(plain):
            return None
        what = _category(plain, self.own_addresses)
        if what is not None:
            return f"{plain} is {what}"
        inner = _carried_ipv4(plain)
        if inner is not None and not self.allowed(inner):
            inner_what = _category(inner, self.own_addresses)
            if inner_what is not None:
                return f"{plain} carries the IPv4 address {inner}, {inner_what}"
        return None

    async def vet(self, url: str) -> Target:
        """``url`` parsed, resolved and checked; :class:`TargetRefused` says why not.

        Called when an endpoint is created and before each delivery; connect to the
        returned ``addresses`` only.
        """
        target = parse_webhook_url(url)
        where = ""
        if target.is_name:
            addresses = await self._resolve(target.host, target.port)
            target = replace(target, addresses=addresses)
            where = f"{target.host} resolves to "
        for address in target.addresses:
            problem = self.address_problem(address)
            if problem is not None:
                raise TargetRefused(
                    "address", f"{target.origin} is refused: {where}{problem}; {ALLOW_HINT}"
                )
        if target.scheme == "http" and not all(self.allowed(a) for a in target.addresses):
            raise TargetRefused(
                "http",
                f"{target.origin} is refused: plain http:// is allowed only to networks the "
                "operator allows (JDITEM_WEBHOOK_ALLOW_NETWORKS); use https://",
            )
        return target

    async def _resolve(self, host: str, port: int) -> tuple[IPAddress, ...]:
        try:
            answers = await self.resolver(host, port)
        except OSError as exc:
            raise TargetRefused(
                "unresolvable", f"{host} does not resolve ({exc.strerror or exc})"
            ) from None
        addresses: dict[IPAddress, None] = {}
        for text in answers:
            try:
                addresses[_unmapped(ipaddress.ip_address(text.split("%")[0]))] = None
            except ValueError:
                raise TargetRefused(
                    "unresolvable", f"{host} resolved to {text!r}, not an address"
                ) from None
        _refuse_unless(bool(addresses), "unresolvable", f"{host} resolves to no address")
        return tuple(addresses)
