"""Settings of the collectors: which one runs, the sandbox's catalog, the relay's upstream."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator


class CollectorSettings(BaseModel):
    """The ``collector``, ``sandbox_*`` and ``upstream_*`` settings."""

    collector: Literal["sandbox", "relay"] = "sandbox"
    sandbox_latency_ms: tuple[int, int] = Field(
        default=(200, 800), description="Uniform collection latency range (min, max) in ms."
    )
    sandbox_failure_rate: float = Field(default=0.0, ge=0, le=1)
    sandbox_unsupported_ids: list[str] = Field(default_factory=list)
    sandbox_seed: int = 0
    sandbox_drift: bool = Field(
        default=True,
        description="The sandbox catalog moves over time (SPEC §6.5), deterministically from "
        "(item, time, sandbox_seed); false serves the static catalog.",
    )
    sandbox_drift_speed: float = Field(
        default=1.0,
        gt=0,
        le=1_000_000,
        description="How fast the sandbox's time runs against the server clock: it shows "
        "start + (now - start) x speed, start = when the collector was built (1 = real "
        "time, 3600 = an hour a second).",
    )

    upstream: str = Field(
        default="global",
        description="Relay upstream: 'global', 'cn' or a base URL speaking this contract.",
    )
    upstream_token: SecretStr | None = Field(
        default=None,
        description="Relay upstream token (JDITEM_UPSTREAM_TOKEN); never from the database.",
    )
    upstream_token_file: Path | None = Field(
        default=None, description="File holding the relay upstream token (first line)."
    )
    upstream_endpoints: str = Field(
        default="v2,v1,v3",
        description="Upstream endpoints in fallback order, comma-separated "
        "(an instruction message moves on to the next).",
    )
    upstream_rate: float = Field(
        default=5.0, gt=0, description="Upstream calls per second, shared by every worker."
    )
    upstream_burst: int = Field(default=5, ge=1)
    upstream_allow_insecure_http: bool = False
    upstream_deadline_seconds: float = Field(
        default=900.0, gt=0, description="How long an upstream task may stay pending."
    )
    upstream_probe_seconds: float = Field(
        default=30.0, gt=0, description="How often an open upstream circuit lets a probe through."
    )
    upstream_price_units: int = Field(
        default=0,
        ge=0,
        description="What one charged upstream call costs, 0.0001 CNY (0: unknown).",
    )
    upstream_timeout_seconds: float = Field(
        default=120.0,
        gt=0,
        description="Bound on one whole upstream exchange: connect, headers and body.",
    )
    upstream_max_pause_seconds: float = Field(
        default=120.0,
        gt=0,
        le=120.0,
        description="Cap on the pause an upstream Retry-After imposes (at most 120 s).",
    )
    upstream_max_body: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        description="Largest upstream answer body read, in bytes (decoded); a larger "
        "answer is a failed attempt, neither stored nor served.",
    )

    @field_validator("sandbox_latency_ms", mode="after")
    @classmethod
    def _latency_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if low < 0 or high < low:
            raise ValueError(
                f"sandbox_latency_ms must be (min, max) with 0 <= min <= max, got {(low, high)}; "
                "set JDITEM_SANDBOX_LATENCY_MS to e.g. [200, 800]"
            )
        return value

    @field_validator("upstream_endpoints", mode="after")
    @classmethod
    def _known_endpoints(cls, value: str) -> str:
        parts = [part.strip() for part in value.split(",") if part.strip()]
        unknown = [part for part in parts if part not in ("v1", "v2", "v3")]
        if unknown or not parts or len(set(parts)) != len(parts):
            raise ValueError(
                f"upstream_endpoints must list v1, v2, v3 at most once each, comma-separated "
                f"(got {value!r}); use e.g. v2,v1,v3"
            )
        return ",".join(parts)

    @property
    def upstream_endpoint_list(self) -> tuple[str, ...]:
        """``upstream_endpoints`` as a tuple, in fallback order."""
        return tuple(self.upstream_endpoints.split(","))
