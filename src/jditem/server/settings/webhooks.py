"""Settings of webhook deliveries (SPEC §6.3): where they may go, how long and how much
they may take, and the keys that seal their signing secrets."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from jditem.server.settings.checks import admin_key_problem
from jditem.server.settings.edge import split_commas


class WebhookSettings(BaseModel):
    """The ``webhook_*`` settings."""

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

    webhook_dispatcher: bool = Field(
        default=True,
        description="Deliver webhooks from this process's worker role (any number of "
        "processes may: each delivery attempt is claimed by one).",
    )
    webhook_concurrency: int = Field(
        default=32, ge=1, le=1024, description="Deliveries one process makes at the same time."
    )
    webhook_poll_seconds: float = Field(
        default=0.25, gt=0, le=60, description="How often the dispatcher looks for due deliveries."
    )
    webhook_log_retention_days: int = Field(
        default=30,
        ge=1,
        description="jditem admin prune deletes finished deliveries (and their attempt log) "
        "older than this.",
    )
    webhook_retry_multiplier: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="Scales the retry schedule (≥ 24 h at 1); lower it only for tests and demos.",
    )

    @field_validator("webhook_allow_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        return split_commas(value)

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
