"""Settings of the server's edge: connection limits, proxies, the public URL, and the
throttle of failed credentials."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

from jditem.server.settings.checks import public_url_problem


def split_commas(value: object) -> object:
    """A comma-separated environment value as a list (other values unchanged)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class EdgeSettings(BaseModel):
    """Connection-level limits (applied by :mod:`jditem.server.http`), trusted proxies,
    the public URL and the ``auth_*`` throttle."""

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

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        return split_commas(value)

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

    @field_validator("public_url", mode="after")
    @classmethod
    def _plain_public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        problem = public_url_problem(value.strip())
        if problem is not None:
            raise ValueError(problem)
        return value.strip().rstrip("/")
