"""Server settings (pydantic-settings, environment prefix ``JDITEM_``).

:class:`Settings` is one class; its fields are grouped by concern: the collectors
(:mod:`.collectors`), the server's edge (:mod:`.edge`), webhook deliveries
(:mod:`.webhooks`), watch lists (:mod:`.watch`), and the service itself here.
:mod:`.checks` holds the strength checks of keys and the public URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from jditem.server.settings.checks import (
    admin_key_problem,
    estimated_entropy_bits,
    public_url_problem,
)
from jditem.server.settings.collectors import CollectorSettings
from jditem.server.settings.edge import EdgeSettings
from jditem.server.settings.watch import WatchSettings
from jditem.server.settings.webhooks import WebhookSettings
from jditem.server.shared.redis_url import normalize_redis_url
from jditem.server.store.urls import normalize_database_url

__all__ = [
    "ENDPOINT_V2",
    "Settings",
    "admin_key_problem",
    "estimated_entropy_bits",
    "public_url_problem",
]

#: The one endpoint this server implements, as named in token permissions.
ENDPOINT_V2 = "jd/get-item-detail/v2"


def default_home() -> Path:
    """``JDITEM_HOME`` or ``~/.jditem`` (read when settings are built, not at import)."""
    return Path("~/.jditem").expanduser()


class Settings(CollectorSettings, EdgeSettings, WebhookSettings, WatchSettings, BaseSettings):
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

    history: bool = Field(
        default=True,
        description="Keep each account's history of the items it receives (SPEC §6.1).",
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

    default_rate_limit: float | None = Field(default=10.0, description="New tokens, req/s.")
    default_burst: int | None = Field(default=20)
    default_daily_quota: int | None = None

    health_window_seconds: int = 900
    health_min_samples: int = 10
    health_healthy: float = 0.95
    health_available: float = 0.80
    health_limited: float = 0.50

    access_log: bool = Field(
        default=True,
        description="Write uvicorn's access log (false: e.g. when a reverse proxy logs).",
    )
    redact_access_log: bool = True
    call_record_flush_seconds: float = Field(
        default=0.5, gt=0, description="How often buffered call records are written."
    )
    history_flush_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often deferred history confirmations (unchanged observations) "
        "are written.",
    )
    idempotency_ttl_seconds: int = Field(
        default=86400,
        ge=1,
        description="How long an Idempotency-Key protects a paid call from a second charge.",
    )
    token_cache_seconds: float = Field(
        default=1.0, ge=0, description="How long a token lookup is reused; 0 = always read."
    )

    # Retention (jditem admin prune, and the server's own hourly pruning).
    call_record_retention_days: int = Field(
        default=90, ge=1, le=36500, description="Call records older than this are pruned."
    )
    task_retention_days: int = Field(
        default=30, ge=1, le=36500, description="Finished task rows older than this are pruned."
    )
    unknown_token_samples: int = Field(
        default=1000,
        ge=0,
        le=1_000_000,
        description="Call records kept for calls without a valid token (the newest N).",
    )

    @field_validator("timezone", mode="after")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai or UTC"
            ) from None
        return value

    @field_validator("admin_key", mode="after")
    @classmethod
    def _strong_admin_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            problem = admin_key_problem(value.get_secret_value())
            if problem is not None:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        for name in ("default_rate_limit", "default_burst", "default_daily_quota"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or unset")
        return self

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

    @field_validator("redis_url", mode="after")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(normalize_redis_url(value.get_secret_value()))

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to SQLite under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.home / 'server.db'}"
