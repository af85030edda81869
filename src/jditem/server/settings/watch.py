"""Settings of watch lists and their scheduler (SPEC §6.2)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WatchSettings(BaseModel):
    """The ``watch_*`` settings."""

    watch_min_interval_seconds: int = Field(
        default=300,
        ge=1,
        description="The shortest check interval a watch list may have (SPEC §6.2: 5 min); "
        "lower it for demos and tests.",
    )
    watch_max_items: int = Field(
        default=100_000, ge=1, description="The most items one watch list may hold."
    )
    watch_scheduler: bool = Field(
        default=True,
        description="Run the watch-list scheduler in this process's worker role (one process "
        "of a deployment schedules at a time, by a database lease).",
    )
    watch_tick_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often the scheduler looks for due items."
    )
    watch_batch: int = Field(
        default=500, ge=1, le=10_000, description="Most due items one scheduler tick picks."
    )
    event_retention_days: int = Field(
        default=90,
        ge=1,
        le=36500,
        description="Change events (the feed of GET /api/watch/changes) older than this are "
        "pruned by 'jditem admin prune'.",
    )
    watch_lanes: int = Field(
        default=8, ge=1, le=256, description="Checks the scheduler runs at the same time."
    )
