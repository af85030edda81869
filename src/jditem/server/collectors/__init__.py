"""Collectors: where product payloads come from (see :mod:`.base` for the seam)."""

from __future__ import annotations

from jditem.server.collectors.base import CollectError, Collector, CollectResult
from jditem.server.settings import Settings

__all__ = ["CollectError", "CollectResult", "Collector", "build_collector"]


def build_collector(settings: Settings) -> Collector:
    """The collector named by ``settings.collector`` (only ``sandbox`` for now)."""
    if settings.collector == "sandbox":
        from jditem.server.collectors.sandbox import SandboxCollector

        return SandboxCollector(settings)
    raise ValueError(f"unknown collector {settings.collector!r}; set JDITEM_COLLECTOR to 'sandbox'")
