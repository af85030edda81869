"""Request bodies of ``/api/watch/lists`` (SPEC §6.2): camelCase names, unknown fields
refused (code 400 naming them)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from jditem.protocol.monitoring import WatchRules
from jditem.server.api.models import CamelBody

Budget = Annotated[
    str | int,
    Field(description="Yuan per local day, exact, as a decimal string such as '5.00'."),
]
ItemRefs = Annotated[
    list[Annotated[str, Field(max_length=2048)]],
    Field(max_length=100_000, description="Item ids or JD item URLs."),
]


class RulesBody(WatchRules):
    """Which changes of the list notify (SPEC §6.3); unknown fields refused. ``kinds``
    (default: all), ``dropPercent`` / ``dropYuan`` / ``priceAtMost`` narrow
    ``price_drop`` and ``new_low``; ``cooldownSeconds`` re-arms an item's kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class WatchListCreate(CamelBody):
    """Body of ``POST /api/watch/lists``."""

    name: str = Field(max_length=100, description="Unique within the account.")
    interval_seconds: int | None = Field(
        default=None, description="Fixed schedule: seconds between two checks of an item."
    )
    min_interval_seconds: int | None = Field(
        default=None, description="Adaptive schedule: an item's shortest interval."
    )
    max_interval_seconds: int | None = Field(
        default=None, description="Adaptive schedule: an item's longest interval."
    )
    within_seconds: int | None = Field(
        default=None, description="Adaptive: notice a change within about this many seconds."
    )
    daily_budget: Budget
    items: ItemRefs = Field(default_factory=list)
    rules: RulesBody | None = Field(
        default=None, description="What notifies (default: every kind, 6 h cooldown)."
    )


class WatchListUpdate(CamelBody):
    """Body of ``PATCH /api/watch/lists/{name}``: only the fields sent change."""

    interval_seconds: int | None = Field(default=None, description="Make the list fixed.")
    min_interval_seconds: int | None = Field(default=None, description="Make it adaptive.")
    max_interval_seconds: int | None = Field(default=None, description="Make it adaptive.")
    within_seconds: int | None = Field(default=None, description="Adaptive; 0 clears it.")
    daily_budget: Budget | None = None
    paused: bool | None = Field(
        default=None, description="true pauses the list (reason 'user'); false resumes it."
    )
    rules: RulesBody | None = Field(
        default=None, description="New rules, replacing the list's rules as a whole."
    )


class ItemsAdd(CamelBody):
    """Body of ``POST /api/watch/lists/{name}/items``: ``items`` and/or a ``text`` input."""

    items: ItemRefs = Field(default_factory=list)
    text: str | None = Field(
        default=None,
        max_length=16 * 1024 * 1024,
        description="A whole input: one id or URL per line, CSV with a header, or JSON Lines.",
    )
    format: Literal["lines", "csv", "jsonl"] | None = Field(
        default=None, description="How to read text (default: sniffed from its first line)."
    )
    id_column: str | None = Field(default=None, max_length=100)


class ItemsRemove(CamelBody):
    """Body of ``POST /api/watch/lists/{name}/items/remove``."""

    items: ItemRefs
