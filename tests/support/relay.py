"""A relay server in front of a second real jditem server (the upstream), both on loopback.

Usage::

    with upstream_and_relay() as (upstream, relay, upstream_token):
        token = relay.make_token("team")
        relay.get("100012043978", token)

The upstream is the sandbox server of :func:`tests.support.live_server.live_server`
with its own account ``vendor`` and token; the relay is ``collector=relay`` pointed at
it with that token (passed as a setting, as ``JDITEM_UPSTREAM_TOKEN`` would be).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.live_server import LiveServer, live_server


def relay_settings(base_url: str, token: str, **overrides: Any) -> dict[str, Any]:
    """Settings of a relay towards ``base_url`` (fast probes and backoff for tests)."""
    values: dict[str, Any] = {
        "collector": "relay",
        "upstream": base_url,
        "upstream_token": token,
        "upstream_rate": 200.0,
        "upstream_burst": 50,
        "upstream_probe_seconds": 0.3,
        "retry_backoff_seconds": 0.05,
        "upstream_endpoints": "v2",
    }
    values.update(overrides)
    return values


@contextmanager
def upstream_and_relay(
    *,
    upstream_settings: dict[str, Any] | None = None,
    upstream_balance_yuan: str = "100",
    vendor_rate: float | None = None,
    vendor_burst: int | None = None,
    **relay_overrides: Any,
) -> Iterator[tuple[LiveServer, LiveServer, str]]:
    """The upstream server, the relay server, and the upstream token.

    ``vendor_rate`` / ``vendor_burst`` limit the upstream token on the upstream server;
    ``relay_overrides`` are relay settings (e.g. its own ``upstream_rate``).
    """
    with live_server(**(upstream_settings or {})) as upstream:
        upstream_token = upstream.make_token(
            "vendor",
            balance_yuan=upstream_balance_yuan,
            rate=vendor_rate,
            burst=vendor_burst,
        )
        settings = relay_settings(upstream.base_url, upstream_token, **relay_overrides)
        with live_server(**settings) as relay:
            yield upstream, relay, upstream_token
