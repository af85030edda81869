"""The sandbox collector: bundled catalog payloads with configurable latency and failures.

Behaviour, all from :class:`~jditem.server.settings.Settings`:

* latency drawn uniformly from ``sandbox_latency_ms`` = (min, max) milliseconds;
* ``sandbox_unsupported_ids`` answer "not supported" (code 202);
* with probability ``sandbox_failure_rate`` a collection raises :class:`CollectError`
  (the worker retries it; after ``max_attempts`` the task fails with 301);
* otherwise the item's payload: with ``sandbox_drift`` (the default) as it stands at the
  sandbox's time (:func:`jditem.server.collectors.drift.drifted_payload`), else the
  static :func:`jditem.server.collectors.catalog.build_payload`.

The sandbox's time comes from the server's injectable clock: ``start + (now - start) ×
sandbox_drift_speed``, where ``start`` is the clock's reading when the collector is built
(the server's start), read after the simulated latency. At speed 1 it is the clock itself;
at 3600 an hour passes every second from the start on. The drift is seeded with
``sandbox_seed``.

Latency and failures come from one :class:`random.Random` seeded with ``sandbox_seed``
(or the ``rng`` given), so a run is reproducible for a fixed order of calls; the drift
does not depend on that order.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

from jditem.server.clock import Clock, now_utc, utc_now
from jditem.server.collectors.base import CollectError, CollectResult
from jditem.server.settings import Settings

Sleep = Callable[[float], Awaitable[None]]


class SandboxCollector:
    """A :class:`~jditem.server.collectors.base.Collector` over the bundled catalog."""

    def __init__(
        self,
        settings: Settings,
        rng: random.Random | int | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = utc_now,
    ) -> None:
        self._latency_ms = settings.sandbox_latency_ms  # a valid range (Settings checks it)
        self._failure_rate = settings.sandbox_failure_rate
        self._unsupported = frozenset(settings.sandbox_unsupported_ids)
        if isinstance(rng, random.Random):
            self._rng = rng
        else:
            self._rng = random.Random(settings.sandbox_seed if rng is None else rng)
        self._sleep = sleep
        self._clock = clock
        self._seed = settings.sandbox_seed
        self._drift = settings.sandbox_drift
        self._speed = settings.sandbox_drift_speed
        self._start = now_utc(clock).timestamp()

    def sandbox_time(self) -> float:
        """The instant (epoch seconds) the sandbox shows now: start + (now − start) × speed."""
        now = now_utc(self._clock).timestamp()
        return now if self._speed == 1 else self._start + (now - self._start) * self._speed

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
            payload = self._payload(item_id)
        except ValueError as exc:
            return CollectResult.not_supported(f"item {item_id} cannot be collected: {exc}")
        return CollectResult.ok(payload)

    def _payload(self, item_id: str) -> dict[str, Any]:
        # Imported lazily: the catalog loads its bundled data on first use only.
        if self._drift:
            from jditem.server.collectors.drift import drifted_payload

            return drifted_payload(item_id, self.sandbox_time(), self._seed)
        from jditem.server.collectors.catalog import build_payload

        return build_payload(item_id)
