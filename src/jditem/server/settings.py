"""Server settings (pydantic-settings, environment prefix ``JDITEM_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The one endpoint this server implements, as named in token permissions.
ENDPOINT_V2 = "jd/get-item-detail/v2"


def default_home() -> Path:
    """``JDITEM_HOME`` or ``~/.jditem`` (read when settings are built, not at import)."""
    return Path("~/.jditem").expanduser()


class Settings(BaseSettings):
    """Everything the server reads from its environment. Build one per app."""

    model_config = SettingsConfigDict(env_prefix="JDITEM_", extra="ignore")

    home: Path = Field(default_factory=default_home, description="Data directory.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite:///<home>/server.db.",
    )
    admin_key: SecretStr | None = Field(
        default=None, description="Key for the admin API and console; unset disables both."
    )
    http_status_mode: Literal["mapped", "always-200"] = "mapped"
    timezone: str = Field(default="Asia/Shanghai", description="Time zone of the quota day.")
    price_units: int = Field(
        default=100, ge=0, description="Price per successful call, 0.0001 CNY."
    )

    wait_seconds: float = Field(default=20.0, ge=0, le=110, description="Max wait per call.")
    retry_after_seconds: int = Field(default=3, ge=1, description="retryAfter sent with 102.")
    result_ttl_seconds: int = Field(default=3600, ge=0)
    negative_ttl_seconds: int = Field(default=600, ge=0)
    lease_seconds: float = Field(default=30.0, gt=0)
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    workers: int = Field(default=16, ge=0, description="In-process worker tasks; 0 = none.")
    worker_poll_seconds: float = Field(default=1.0, gt=0, description="Idle claim interval.")
    collect_timeout_seconds: float = Field(
        default=120.0, gt=0, description="One collection attempt longer than this fails (retried)."
    )

    retry_backoff_seconds: float = Field(
        default=0.5,
        ge=0,
        description="Base of the backoff between collection attempts of a task "
        "(doubled per attempt, jittered, capped by retry_backoff_max_seconds).",
    )
    retry_backoff_max_seconds: float = Field(default=30.0, ge=0)

    collector: Literal["sandbox", "relay"] = "sandbox"
    sandbox_latency_ms: tuple[int, int] = Field(
        default=(200, 800), description="Uniform collection latency range (min, max) in ms."
    )
    sandbox_failure_rate: float = Field(default=0.0, ge=0, le=1)
    sandbox_unsupported_ids: list[str] = Field(default_factory=list)
    sandbox_seed: int = 0

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
        default=120.0, gt=0, description="Read timeout of one upstream call."
    )

    default_rate_limit: float | None = Field(default=10.0, description="New tokens, req/s.")
    default_burst: int | None = Field(default=20)
    default_daily_quota: int | None = None

    health_window_seconds: int = 900
    health_min_samples: int = 10
    health_healthy: float = 0.95
    health_available: float = 0.80
    health_limited: float = 0.50

    redact_access_log: bool = True
    call_record_flush_seconds: float = Field(
        default=0.5, gt=0, description="How often buffered call records are written."
    )
    idempotency_ttl_seconds: int = Field(
        default=86400,
        ge=1,
        description="How long an Idempotency-Key protects a paid call from a second charge.",
    )
    token_cache_seconds: float = Field(
        default=1.0, ge=0, description="How long a token lookup is reused; 0 = always read."
    )

    @field_validator("home", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

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

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to SQLite under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.home / 'server.db'}"
