"""Models for the OpenAPI document: the wire shapes of SPEC §2.1–2.3, §2.7 (responses) and
the base of the token-authenticated endpoints' request bodies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class EnvelopeModel(BaseModel):
    """``{code, message, data, recordTime, requestId}`` — the shape of every response."""

    model_config = ConfigDict(extra="allow")

    code: int = Field(description="Business code (SPEC §2.2): 0 success, 102 pending, ...")
    message: str = Field(description="What happened and what to do, in English.")
    data: Any = Field(default=None, description="Payload, task status, or error details.")
    recordTime: str = Field(description="ISO-8601 time with offset.")
    requestId: str = Field(description="Unique per request; also the X-Request-Id header.")


def envelope_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries: each status answers with the envelope."""
    descriptions = {
        200: "code 0 (data = product payload) or 202 (item not supported)",
        202: "code 102: task pending (data = task status, Retry-After header)",
        400: "code 400: invalid parameters",
        401: "code 100: invalid or inactive token",
        402: "code 601 (insufficient balance) or 602 (token budget exhausted)",
        403: "code 600: permission denied",
        404: "code 404: unknown path or object",
        429: "code 302 (rate limit, Retry-After header) or 303 (daily quota, data.resetAt)",
        500: "code 500: internal server error",
        503: "code 301: collection failed, please retry",
    }
    return {
        status: {"model": EnvelopeModel, "description": descriptions.get(status, "envelope")}
        for status in statuses
    }


class CamelBody(BaseModel):
    """Request bodies: camelCase names, unknown fields refused (400 naming them)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)
