"""Collectors: where product payloads come from (see :mod:`.base` for the seam).

``jditem.server.context.build_collector`` builds the one the settings name.
"""

from __future__ import annotations

from jditem.server.collectors.base import (
    CollectError,
    Collector,
    CollectResult,
    SourceUnavailable,
)

__all__ = ["CollectError", "CollectResult", "Collector", "SourceUnavailable"]
