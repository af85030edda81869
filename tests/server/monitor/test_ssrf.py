"""The SSRF guard of webhook URLs (SPEC §6.3), as one table.

Each row is a URL, the networks the operator allows (none, or 127.0.0.0/8 the way the
tests' loopback receivers need), and the outcome: allowed, or refused with the reason
code and a phrase of the message. Names resolve through a table (``RESOLVES``), except
``localhost``, which asks the operating system.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from jditem.server.monitor.ssrf import (
    ALLOW_HINT,
    TargetGuard,
    TargetRefused,
    parse_ipv4,
    server_addresses,
    system_resolver,
)
from jditem.server.settings import Settings

PUBLIC = "93.184.216.34"
OWN = "93.184.216.99"  # stands for this server's public address
RESOLVES = {
    "public.example": [PUBLIC],
    "xn--bcher-kva.example": [PUBLIC],  # bücher.example
    "loop.example": ["127.0.0.1"],
    "mixed.example": [PUBLIC, "10.0.0.1"],
    "mixed-loop.example": ["127.0.0.1", PUBLIC],
    "v6loop.example": ["::1"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "own.example": [OWN],
}


async def table_resolver(host: str, port: int) -> Sequence[str]:
    if host == "localhost":
        return await system_resolver(host, port)
    if host not in RESOLVES:
        raise OSError(-2, "Name or service not known")
    return RESOLVES[host]


NONE: tuple[str, ...] = ()
LOOPBACK = ("127.0.0.0/8",)
OK = None

CASES = [
    # (url, allowed networks, None = allowed | (reason, phrase of the message))
    ("https://public.example/hooks/jd?x=1", NONE, OK),
    (f"https://{PUBLIC}/", NONE, OK),
    ("https://PUBLIC.example./", NONE, OK),  # case and trailing dot
    ("https://bücher.example/", NONE, OK),  # IDNA
    ("https://[64:ff9b::5db8:d822]/", NONE, OK),  # NAT64 of a public address
    ("http://public.example/", NONE, ("http", "plain http://")),
    ("https://127.0.0.1/", NONE, ("address", "127.0.0.1 is a loopback address")),
    ("https://127.0.0.1./", NONE, ("address", "127.0.0.1 is a loopback address")),
    ("http://2130706433/", NONE, ("address", "127.0.0.1 is a loopback address")),
    ("https://0x7f.1/", NONE, ("address", "127.0.0.1 is a loopback address")),
    ("https://0177.0.0.1/", NONE, ("address", "127.0.0.1 is a loopback address")),
    ("https://127.1/", NONE, ("address", "127.0.0.1 is a loopback address")),
    ("https://[::ffff:127.0.0.1]/", NONE, ("address", "127.0.0.1 is a loopback address")),
    ("https://[::1]/", NONE, ("address", "::1 is a loopback address")),
    ("https://loop.example/", NONE, ("address", "loop.example resolves to 127.0.0.1")),
    ("https://LOOP.example./x", NONE, ("address", "loop.example resolves to 127.0.0.1")),
    ("https://mapped.example/", NONE, ("address", "127.0.0.1 is a loopback address")),
    ("https://localhost/", NONE, ("address", "is a loopback address")),
    ("https://10.1.2.3/", NONE, ("address", "a private address")),
    ("https://192.168.1.1:8443/", NONE, ("address", "a private address")),
    ("https://[fd00::1]/", NONE, ("address", "a private address")),
    ("https://[fe80::1]/", NONE, ("address", "a link-local address")),
    ("https://169.254.169.254/latest/meta-data/", NONE, ("address", "a link-local address")),
    ("https://100.64.0.1/", NONE, ("address", "carrier-grade NAT")),
    ("https://224.0.0.1/", NONE, ("address", "a multicast address")),
    ("https://[ff02::1]/", NONE, ("address", "a multicast address")),
    ("https://0.0.0.0/", NONE, ("address", "the unspecified address")),
    ("https://240.0.0.1/", NONE, ("address", "reserved or special-purpose")),
    ("https://192.0.2.1/", NONE, ("address", "reserved or special-purpose")),
    ("https://mixed.example/", NONE, ("address", "10.0.0.1 is a private address")),
    ("https://own.example/", NONE, ("address", "one of this server's own addresses")),
    ("https://[2002:7f00:1::]/", NONE, ("address", "carries the IPv4 address 127.0.0.1")),
    ("https://[64:ff9b::a00:1]/", NONE, ("address", "carries the IPv4 address 10.0.0.1")),
    ("https://good@127.0.0.1/", NONE, ("userinfo", "user name or password")),
    ("https://public.example@127.0.0.1/", NONE, ("userinfo", "user name or password")),
    ("https://user:pw@public.example/", NONE, ("userinfo", "user name or password")),
    ("https://public.example\\@127.0.0.1/", NONE, ("malformed", "backslashes")),
    ("https://public.example/ x", NONE, ("malformed", "spaces")),
    ("ftp://public.example/", NONE, ("scheme", "must start with https://")),
    ("//public.example/", NONE, ("scheme", "must start with https://")),
    ("https://public.example/#frag", NONE, ("fragment", "#fragment")),
    ("https://public.example:0/", NONE, ("port", "port 0")),
    ("https://public.example:99999/", NONE, ("malformed", "not a valid URL")),
    ("https:///path", NONE, ("host", "needs a host")),
    ("https://1.2.3.4.5/", NONE, ("host", "not an IPv4 address")),
    ("https://256.1.1.1/", NONE, ("host", "out of the IPv4 range")),
    ("https://example.08/", NONE, ("host", "not an IPv4 address")),
    ("https://exa_mple..com/", NONE, ("host", "not a valid host name")),
    ("https://%31%32%37.0.0.1/", NONE, ("host", "percent-encoded")),
    ("https://nowhere.example/", NONE, ("unresolvable", "nowhere.example does not resolve")),
    # The operator allows 127.0.0.0/8 (what the tests' receivers need):
    ("http://127.0.0.1:8080/hook", LOOPBACK, OK),  # plain http inside an allowed network
    ("http://2130706433/", LOOPBACK, OK),
    ("https://127.1/", LOOPBACK, OK),
    ("https://[::ffff:127.0.0.1]/", LOOPBACK, OK),
    ("http://loop.example:9000/", LOOPBACK, OK),
    ("https://public.example/", LOOPBACK, OK),
    ("https://[::1]/", LOOPBACK, ("address", "::1 is a loopback address")),
    ("https://v6loop.example/", LOOPBACK, ("address", "::1 is a loopback address")),
    ("https://10.1.2.3/", LOOPBACK, ("address", "a private address")),
    ("http://public.example/", LOOPBACK, ("http", "plain http://")),
    ("http://mixed-loop.example/", LOOPBACK, ("http", "plain http://")),
    ("https://good@127.0.0.1/", LOOPBACK, ("userinfo", "user name or password")),
]


@pytest.mark.parametrize(
    ("url", "allow", "expected"),
    CASES,
    ids=[f"{url} allow={','.join(allow) or 'none'}" for url, allow, _ in CASES],
)
async def test_webhook_urls(
    url: str, allow: tuple[str, ...], expected: tuple[str, str] | None
) -> None:
    guard = TargetGuard.create(
        allow, own_addresses=[ipaddress.ip_address(OWN)], resolver=table_resolver
    )
    if expected is None:
        target = await guard.vet(url)
        assert target.addresses
        assert all(guard.address_problem(a) is None for a in target.addresses)
        return
    reason, phrase = expected
    with pytest.raises(TargetRefused) as refused:
        await guard.vet(url)
    assert refused.value.reason == reason, refused.value.message
    assert phrase in refused.value.message
    if reason == "address":
        assert ALLOW_HINT in refused.value.message  # says what the operator can do


async def test_a_vetted_target_says_where_to_connect_and_what_to_call_it() -> None:
    guard = TargetGuard.create(LOOPBACK, own_addresses=[], resolver=table_resolver)
    target = await guard.vet("http://LOOP.example.:9000/hooks/jd?secret=s3")
    assert target.addresses == (ipaddress.ip_address("127.0.0.1"),)
    assert target.host_header == "loop.example:9000"
    assert target.url_for(target.addresses[0]) == "http://127.0.0.1:9000/hooks/jd?secret=s3"
    assert target.origin == "http://loop.example:9000"  # what messages show: no path/query
    decimal = await guard.vet("http://2130706433/")
    assert decimal.host == "127.0.0.1"
    assert decimal.host_header == "127.0.0.1"
    assert not decimal.is_name


async def test_messages_never_show_the_path_or_query() -> None:
    guard = TargetGuard.create(NONE, own_addresses=[], resolver=table_resolver)
    with pytest.raises(TargetRefused) as refused:
        await guard.vet("https://loop.example/hooks/tok_SECRETPATH?key=SECRETQUERY")
    assert "SECRET" not in str(refused.value)


def test_ipv4_forms_read_like_browsers_and_inet_aton() -> None:
    for form in (
        "2130706433",
        "0x7f000001",
        "0x7f.1",
        "0177.0.0.1",
        "127.1",
        "127.0.1",
        "127.0.0.1.",
    ):
        assert parse_ipv4(form) == ipaddress.IPv4Address("127.0.0.1"), form
    assert parse_ipv4("0") == ipaddress.IPv4Address("0.0.0.0")
    assert parse_ipv4("example.com") is None
    assert parse_ipv4("1.example") is None  # a name that starts with a number


def test_the_guard_of_the_settings_allows_their_networks() -> None:
    guard = TargetGuard.from_settings(Settings(webhook_allow_networks="127.0.0.0/8, fd00::/8"))
    assert guard.allowed(ipaddress.ip_address("127.0.0.5"))
    assert guard.allowed(ipaddress.ip_address("fd00::5"))
    assert not guard.allowed(ipaddress.ip_address("10.0.0.1"))
    assert guard.own_addresses == server_addresses()
    assert all(
        isinstance(a, ipaddress.IPv4Address | ipaddress.IPv6Address) for a in server_addresses()
    )


def test_settings_refuse_a_network_that_is_not_one() -> None:
    with pytest.raises(ValueError, match=r"give networks such as 127\.0\.0\.0/8"):
        Settings(webhook_allow_networks="127.0.0.0/8,localhost")
