"""A relay server in front of a second real jditem server (the upstream), both on loopback.

Usage::

    with upstream_and_relay() as (upstream, relay, upstream_token):
        token = relay.make_token("team")
        relay.get("100012043978", token)

The upstream is the sandbox server of :func:`tests.support.live_server.live_server`
with its own account ``vendor`` and token; the relay is ``collector=relay`` pointed at
it with that token (passed as a setting, as ``JDITEM_UPSTREAM_TOKEN`` would be).

:func:`gateway_process` runs the relay as its own ``jditem serve`` process instead (its
memory can then be read from ``/proc``), in front of any upstream URL — e.g. a
:class:`~tests.support.fault_server.FaultServer` playing a hostile vendor.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.support.live_server import LiveServer, live_server
from tests.support.processes import (
    START_TIMEOUT,
    Deployment,
    Proc,
    answers,
    free_port,
)


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


@dataclass
class Gateway:
    """A running ``jditem serve --collector relay`` process (see :func:`gateway_process`)."""

    deployment: Deployment
    proc: Proc

    @property
    def base_url(self) -> str:
        return self.deployment.base_url

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Run ``sql`` on the gateway's database; all rows."""
        with self.deployment.engine().connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]

    def rss_mb(self) -> float:
        """The process's resident memory now, in MiB (``VmRSS`` of /proc/PID/status)."""
        status = Path(f"/proc/{self.proc.popen.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024


@contextmanager
def gateway_process(
    upstream_url: str,
    upstream_token: str,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    **settings: str,
) -> Iterator[Gateway]:
    """``jditem serve --collector relay`` towards ``upstream_url``, as its own process.

    SQLite in a temporary home unless ``database_url`` (a PostgreSQL URL, sync form) is
    given; ``redis_url`` adds Redis (the scale-out profile's shared state). ``settings``
    are extra ``JDITEM_*`` variables (name without the prefix, lower case).
    """
    root = Path(tempfile.mkdtemp(prefix="jditem-gateway-"))
    admin_key = secrets.token_urlsafe(32)
    db = database_url or f"sqlite:///{root / 'gateway.db'}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("JDITEM_")},
        "JDITEM_HOME": str(root),
        "JDITEM_ADMIN_KEY": admin_key,
        "JDITEM_COLLECTOR": "relay",
        "JDITEM_UPSTREAM": upstream_url,
        "JDITEM_UPSTREAM_TOKEN": upstream_token,
        "JDITEM_DEFAULT_RATE_LIMIT": "100000",
        "JDITEM_DEFAULT_BURST": "100000",
        "JDITEM_CALL_RECORD_FLUSH_SECONDS": "0.2",
        **{f"JDITEM_{k.upper()}": v for k, v in settings.items()},
    }
    deployment = Deployment(
        root=root,
        env=env,
        db_url=db.replace("postgresql://", "postgresql+asyncpg://", 1),
        sync_db_url=db,
        redis_url=redis_url or "",
        port=free_port(),
        admin_key=admin_key,
    )
    args = ["serve", "--db", db, "--port", str(deployment.port)]
    if redis_url:
        args += ["--redis", redis_url]
    try:
        proc = deployment.start("gateway", *args)
        proc.wait_for(lambda: answers(deployment.base_url), "the gateway to answer", START_TIMEOUT)
        yield Gateway(deployment, proc)
    finally:
        deployment.stop()
        shutil.rmtree(root, ignore_errors=True)
