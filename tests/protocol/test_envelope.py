"""Envelope parsing: int or numeric-string codes, pending detection (SPEC §2.1, §4)."""

import pytest
from pydantic import ValidationError

from jditem.protocol import Envelope, PendingStatus, has_product_fields, looks_pending


@pytest.mark.parametrize("raw", [0, "0", " 0 ", "302"])
def test_code_accepts_int_or_numeric_string(raw: object) -> None:
    env = Envelope.model_validate({"code": raw, "message": "x", "data": None})
    assert env.code == int(str(raw).strip())


@pytest.mark.parametrize("raw", ["ok", "", None, True, 1.5, "1e3"])
def test_code_rejects_non_numeric(raw: object) -> None:
    with pytest.raises(ValidationError):
        Envelope.model_validate({"code": raw})


def test_wire_form_uses_camel_case_and_keeps_extras() -> None:
    env = Envelope.model_validate(
        {"code": 0, "message": "success", "data": {}, "recordTime": "t", "requestId": "r", "x": 1}
    )
    wire = env.to_wire()
    assert wire["recordTime"] == "t"
    assert wire["requestId"] == "r"
    assert wire["x"] == 1


def test_pending_status_aliases() -> None:
    status = PendingStatus.model_validate(
        {
            "taskId": "t_1",
            "itemId": "100012043978",
            "taskStatus": "queued",
            "submittedAt": "2026-11-28T10:15:30.123+08:00",
            "attempt": 1,
            "retryAfter": 3,
        }
    )
    assert status.task_id == "t_1"
    assert status.retry_after == 3
    assert status.submitted_at is not None
    assert status.submitted_at.utcoffset() is not None


@pytest.mark.parametrize("status", ["queued", "PENDING", "running", "processing", "submitted"])
def test_looks_pending(status: str) -> None:
    assert looks_pending({"taskStatus": status})
    assert looks_pending({"status": status, "taskId": "x"})


def test_product_fields_win_over_status() -> None:
    assert not looks_pending({"status": "running", "product": {}})
    assert not looks_pending({"status": "done"})
    assert not looks_pending("queued")
    assert has_product_fields({"product": {"skuId": "1"}})
    assert not has_product_fields("text")
