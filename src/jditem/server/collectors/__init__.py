"""Collectors: where product payloads come from (see :mod:`.base` for the seam)."""

from __future__ import annotations

from jditem.server.collectors.base import (
    CollectError,
    Collector,
    CollectResult,
    SourceUnavailable,
)
from jditem.server.settings import Settings

__all__ = ["CollectError", "CollectResult", "Collector", "SourceUnavailable", "build_collector"]


def build_collector(settings: Settings) -> Collector:
    """The sandbox collector (the relay needs the database: ``context.build_collector``)."""
    if settings.collector == "sandbox":
        from jditem.server.collectors.sandbox import SandboxCollector

        return SandboxCollector(settings)
    raise ValueError(
        f"collector {settings.collector!r} is built with the server context "
        "(jditem.server.context.build_collector)"
    )
