"""Server settings (pydantic-settings, environment prefix ``JDITEM_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from jditem.server.store.urls import normalize_database_url

#: The one endpoint this server implements, as named in token permissions.
ENDPOINT_V2 = "jd/get-item-detail/v2"


def default_home() -> Path:
    """``JDITEM_HOME`` or ``~/.jditem`` (read when settings are built, not at import)."""
    return Path("~/.jditem").expanduser()


class Settings(BaseSettings):
    """Everything the server reads from its environment. Build one per app."""

    # hide_input_in_errors: a refused database URL may hold a password
    model_config = SettingsConfigDict(
        env_prefix="JDITEM_", extra="ignore", hide_input_in_errors=True
    )

    home: Path = Field(default_factory=default_home, description="Data directory.")
    database_url: str | None = Field(
        default=None,
        description="A SQLite file path or sqlite:// / postgresql:// URL (normalised to the "
        "async driver); default sqlite+aiosqlite:///<home>/server.db.",
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="Redis URL (redis://, rediss://, unix://) for the scale-out profile: "
        "shared rate limits, wake-ups, cache invalidation and health. Unset = embedded.",
    )
    role: Literal["all", "api", "worker"] = Field(
        default="all",
        description="What this process does: API + workers, API only, or workers only.",
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

    collector: Literal["sandbox"] = "sandbox"
    sandbox_latency_ms: tuple[int, int] = Field(
        default=(200, 800), description="Uniform collection latency range (min, max) in ms."
    )
    sandbox_failure_rate: float = Field(default=0.0, ge=0, le=1)
    sandbox_unsupported_ids: list[str] = Field(default_factory=list)
    sandbox_seed: int = 0

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

    @field_validator("database_url", mode="after")
    @classmethod
    def _normalise_database_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return normalize_database_url(value)

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to SQLite under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.home / 'server.db'}"
