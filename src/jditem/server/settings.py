"""Server settings (pydantic-settings, environment prefix ``JDITEM_``)."""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from jditem.server.shared.redis_url import normalize_redis_url
from jditem.server.store.urls import normalize_database_url

#: The one endpoint this server implements, as named in token permissions.
ENDPOINT_V2 = "jd/get-item-detail/v2"


#: Shortest admin key accepted, and the least estimated entropy (bits) it must carry.
#: The estimate of a random 32-hex-digit key (128 real bits) averages 115 and fell below
#: 96 for 99 keys in a million (so 96 refused good keys), never below 89: 80 refuses no
#: random key while a short alphabet or a repeated word still scores far less.
ADMIN_KEY_MIN_LENGTH = 32
ADMIN_KEY_MIN_BITS = 80
#: How to make a good admin key (quoted by the start-up error).
ADMIN_KEY_HOWTO = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def estimated_entropy_bits(text: str) -> float:
    """Shannon entropy of ``text``'s characters times its length (a crude strength bound).

    A random ``secrets.token_urlsafe(32)`` scores about 200 bits, ``token_hex(16)`` about
    110; a repeated word or a short alphabet scores far less.
    """
    if not text:
        return 0.0
    counts = Counter(text)
    total = len(text)
    per_char = -sum(n / total * math.log2(n / total) for n in counts.values())
    return per_char * total


def admin_key_problem(key: str) -> str | None:
    """Why ``key`` is too weak to be the admin key, or ``None`` when it is fine."""
    if len(key) < ADMIN_KEY_MIN_LENGTH:
        why = f"it has {len(key)} characters; at least {ADMIN_KEY_MIN_LENGTH} are required"
    elif estimated_entropy_bits(key) < ADMIN_KEY_MIN_BITS or len(set(key)) < 8:
        why = "it is too predictable (too few different characters)"
    elif (key + key).find(key, 1) < len(key):
        why = "it is too predictable (a repeated pattern)"
    else:
        return None
    return f"too weak: {why}. Generate one with: {ADMIN_KEY_HOWTO}"


def public_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the base of links the server hands out, or ``None``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s) address such as https://jd.example.com"
    if parts.query or parts.fragment or parts.username or parts.password:
        return f"{url!r} must be a plain address (no user, query or fragment)"
    if any(c.isspace() or ord(c) < 32 for c in url):
        return f"{url!r} must not contain spaces or control characters"
    return None


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

    # Connection-level limits (applied by jditem.server.http to uvicorn/h11).
    max_request_head_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Largest request line + headers accepted; larger answers 414/431.",
    )
    max_request_headers: int = Field(
        default=100, ge=10, le=1000, description="Most header fields in one request (431)."
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="A request line + headers not complete within this answers 408.",
    )
    keep_alive_seconds: int = Field(
        default=20,
        ge=1,
        le=300,
        description=(
            "Idle keep-alive connections close after this. Keep it above the idle timeout "
            "of the clients' connection pools (the jditem client: 5 s; a reverse proxy's "
            "upstream keep-alive), so the server is never the side closing a connection "
            "a client is reusing."
        ),
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Open connections beyond this are answered 503 at once and closed.",
    )

    # Who the server is to the outside (reverse proxies, links it hands out).
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks (comma-separated, e.g. 127.0.0.1,10.0.0.0/8; '*' "
        "for any) whose X-Forwarded-For / X-Forwarded-Proto are believed. Empty (default): "
        "none; the client address is the TCP peer.",
    )
    public_url: str | None = Field(
        default=None,
        description="The address people open the console at (e.g. https://jd.example.com); "
        "set-password links are built from it.",
    )

    # Webhook deliveries (SPEC §6.3): where they may go, how long and how much they may take.
    webhook_allow_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Networks (comma-separated CIDRs, e.g. 127.0.0.0/8,10.1.0.0/16) webhooks "
        "may reach although private, loopback or reserved; plain http is allowed only there.",
    )
    webhook_timeout_seconds: float = Field(
        default=15.0, gt=0, le=300, description="One delivery attempt, resolving to last byte."
    )
    webhook_max_response_bytes: int = Field(
        default=8192, ge=0, le=1024 * 1024, description="Response bytes read (and logged)."
    )
    webhook_secrets_key: SecretStr | None = Field(
        default=None,
        description="Key(s) sealing webhook signing secrets at rest, comma-separated (the "
        "first seals); unset: a key made once in <home>/webhook-secrets.key.",
    )

    # Failed admin-key attempts (admin API and console sign-in).
    auth_free_failures: int = Field(
        default=5, ge=1, le=1000, description="Failures per client address before throttling."
    )
    auth_failure_window_seconds: int = Field(default=900, ge=1, le=86400)
    auth_max_delay_seconds: int = Field(
        default=300, ge=1, le=86400, description="Longest wait imposed after failures."
    )
    auth_global_failures_per_minute: int = Field(
        default=100, ge=1, description="Failures from all addresses before everyone waits."
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

    @field_validator("trusted_proxies", "webhook_allow_networks", mode="before")
    @classmethod
    def _split_comma_lists(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies", mode="after")
    @classmethod
    def _known_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network; give e.g. "
                    "127.0.0.1,10.0.0.0/8 (or * to trust every peer)"
                ) from None
        return value

    @field_validator("webhook_allow_networks", mode="after")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        try:
            return [str(ipaddress.ip_network(entry, strict=False)) for entry in value]
        except ValueError as exc:
            raise ValueError(f"{exc}; give networks such as 127.0.0.0/8,fd00::/8") from None

    @field_validator("webhook_secrets_key", mode="after")
    @classmethod
    def _strong_sealing_keys(cls, value: SecretStr | None) -> SecretStr | None:
        keys = [k.strip() for k in (value.get_secret_value() if value else "").split(",")]
        problems = {admin_key_problem(k) for k in keys if k} - {None}
        if problems:
            raise ValueError(f"a key is {problems.pop()}")
        return value if any(keys) else None

    @field_validator("public_url", mode="after")
    @classmethod
    def _plain_public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        problem = public_url_problem(value.strip())
        if problem is not None:
            raise ValueError(problem)
        return value.strip().rstrip("/")

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
