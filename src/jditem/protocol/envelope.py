"""The response envelope (SPEC §2.1) and the pending task status (SPEC §2.3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from jditem.protocol.codes import Code

#: ``taskStatus`` / ``status`` values that mean "not ready yet" (SPEC §4.2).
PENDING_STATUSES = frozenset({"queued", "pending", "running", "processing", "submitted", "waiting"})


class Envelope(BaseModel):
    """``{code, message, data, recordTime, requestId}`` — every response has this shape.

    ``code`` accepts an int or a numeric string (older vendor versions sent ``"0"``).
    Unknown fields are kept.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    code: int = Field(description="Business code (SPEC §2.2); 0 is success.")
    message: str | None = Field(default=None, description="Human-readable text (English).")
    data: Any = Field(default=None, description="Product payload, task status, or details.")
    record_time: str | None = Field(
        default=None, alias="recordTime", description="ISO-8601 time with offset."
    )
    request_id: str | None = Field(
        default=None, alias="requestId", description="Unique per request; also X-Request-Id."
    )

    @field_validator("code", mode="before")
    @classmethod
    def _numeric_code(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("code must be an integer, not a boolean")
        if isinstance(value, str):
            text = value.strip()
            if text.lstrip("-").isascii() and text.lstrip("-").isdigit():
                return int(text)
            raise ValueError(f"code must be an integer or numeric string, got {value!r}")
        return value

    @field_validator("message", mode="before")
    @classmethod
    def _message_text(cls, value: Any) -> Any:
        return value if value is None or isinstance(value, str) else str(value)

    @field_validator("record_time", "request_id", mode="before")
    @classmethod
    def _optional_text(cls, value: Any) -> Any:
        return value if value is None or isinstance(value, str) else str(value)

    @property
    def known_code(self) -> Code | None:
        """The :class:`Code` member for ``code``, or ``None`` when outside the table."""
        return Code.lookup(self.code)

    def to_wire(self) -> dict[str, Any]:
        """The JSON object as sent on the wire (camelCase keys)."""
        return self.model_dump(by_alias=True, mode="json")


class PendingStatus(BaseModel):
    """``data`` of a code-102 answer: the task the call is attached to."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    task_id: str = Field(alias="taskId")
    item_id: str = Field(alias="itemId")
    task_status: Literal["queued", "running"] | str = Field(alias="taskStatus")
    submitted_at: datetime | None = Field(default=None, alias="submittedAt")
    attempt: int = 0
    retry_after: float | None = Field(default=None, alias="retryAfter")


def looks_pending(data: Any) -> bool:
    """True when ``data`` is a task-status object with no product fields (SPEC §4.2)."""
    if not isinstance(data, dict):
        return False
    status = data.get("taskStatus", data.get("status"))
    if not isinstance(status, str) or status.lower() not in PENDING_STATUSES:
        return False
    return not has_product_fields(data)


#: Keys whose presence marks a JD product payload.
PRODUCT_KEYS = frozenset({"product", "skuName", "wareInfo", "item", "skuId", "priceFloor"})


def has_product_fields(data: Any) -> bool:
    """True when ``data`` looks like a product payload (SPEC §4.3)."""
    return isinstance(data, dict) and any(key in data for key in PRODUCT_KEYS)
