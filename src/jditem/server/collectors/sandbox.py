"""The sandbox collector: bundled catalog payloads with configurable latency and failures.

Behaviour, all from :class:`~jditem.server.settings.Settings`:

* latency drawn uniformly from ``sandbox_latency_ms`` = (min, max) milliseconds;
* ``sandbox_unsupported_ids`` answer "not supported" (code 202);
* with probability ``sandbox_failure_rate`` a collection raises :class:`CollectError`
  (the worker retries it; after ``max_attempts`` the task fails with 301);
* otherwise the payload of :func:`jditem.server.collectors.catalog.build_payload`.

Randomness comes from one :class:`random.Random` seeded with ``sandbox_seed`` (or the
``rng`` given), so a run is reproducible for a fixed order of calls.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

from jditem.server.collectors.base import CollectError, CollectResult
from jditem.server.settings import Settings

PayloadBuilder = Callable[[str], dict[str, Any]]
Sleep = Callable[[float], Awaitable[None]]


def _catalog_payload(item_id: str) -> dict[str, Any]:
    # Imported lazily: the catalog loads its bundled data on first use only.
    from jditem.server.collectors.catalog import build_payload

    return build_payload(item_id)


class SandboxCollector:
    """A :class:`~jditem.server.collectors.base.Collector` over the bundled catalog."""

    def __init__(
        self,
        settings: Settings,
        rng: random.Random | int | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        payload_builder: PayloadBuilder = _catalog_payload,
    ) -> None:
        self._latency_ms = settings.sandbox_latency_ms  # a valid range (Settings checks it)
        self._failure_rate = settings.sandbox_failure_rate
        self._unsupported = frozenset(settings.sandbox_unsupported_ids)
        if isinstance(rng, random.Random):
            self._rng = rng
        else:
            self._rng = random.Random(settings.sandbox_seed if rng is None else rng)
        self._sleep = sleep
        self._build = payload_builder

    async def collect(self, item_id: str) -> CollectResult:
        """Wait the simulated latency, then answer ok / not supported, or fail."""
        delay_ms = self._rng.uniform(*self._latency_ms)
        fails = self._rng.random() < self._failure_rate
        await self._sleep(delay_ms / 1000)
        if item_id in self._unsupported:
            return CollectResult.not_supported(
                f"item {item_id} is not supported by the sandbox catalog "
                "(listed in sandbox_unsupported_ids); retrying will not help"
            )
        if fails:
            raise CollectError(
                f"sandbox collection of item {item_id} failed (simulated, "
                f"sandbox_failure_rate={self._failure_rate}); the task is retried"
            )
        try:
            payload = self._build(item_id)
        except ValueError as exc:
            return CollectResult.not_supported(f"item {item_id} cannot be collected: {exc}")
        return CollectResult.ok(payload)
