"""The one redaction engine (:mod:`jditem.redaction`): patterns, registered secrets,
percent-encoded forms, log records of any shape, exceptions."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from uvicorn.logging import AccessFormatter

from jditem.redaction import RedactingFilter, redact, register_secret, sanitize_exception

TOKEN = "tok_FAKE_engine_7e6d5c4b3a21"


def test_redact_patterns_and_registered_secrets() -> None:
    assert redact("GET /x?token=abc&itemId=1") == "GET /x?token=***&itemId=1"
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    assert redact('{"token": "abc"}') == '{"token": "***"}'
    register_secret("zz-secret-zz")
    assert redact("seen zz-secret-zz and zz%2Dsecret") == "seen *** and zz%2Dsecret"
    assert redact("plain words with tokens") == "plain words with tokens"


def test_filter_masks_args_and_tracebacks() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "url %s", (f"?token={TOKEN}",), None)
    register_secret(TOKEN)
    try:
        raise ValueError(f"boom {TOKEN}")
    except ValueError as exc:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    assert RedactingFilter().filter(record)
    assert TOKEN not in record.getMessage()
    assert TOKEN not in (record.exc_text or "")


def test_sanitize_exception_keeps_type_and_drops_request() -> None:
    request = httpx.Request("GET", f"https://x.example/?token={TOKEN}")
    original = httpx.ReadTimeout(f"timed out for {request.url}", request=request)
    clean = sanitize_exception(original)
    assert type(clean) is httpx.ReadTimeout
    assert TOKEN not in str(clean)
    with pytest.raises(RuntimeError):
        clean.request  # noqa: B018 - the copy holds no request


def test_percent_encoded_names_and_values_are_masked() -> None:
    """What a server decodes counts: ``%74oken=`` is ``token=``, ``jd%5F…`` is ``jd_…``."""
    raw = "jd_" + "B" * 43
    assert redact("/v2?%74oken=abc&itemId=1") == "/v2?%74oken=***&itemId=1"
    assert redact("/v2?x=" + raw.replace("_", "%5F")) == "/v2?x=***"
    assert redact("/v2?admin_key=s3cret&itemId=1") == "/v2?admin_key=***&itemId=1"
    assert redact(f"oops {raw} leaked") == "oops jd_*** leaked"
    assert redact("itemId=1&notatoken=1") == "itemId=1&notatoken=1"


def test_an_access_log_record_keeps_its_arguments() -> None:
    """uvicorn's access formatter unpacks the record's five arguments: masking them one by
    one keeps the record formattable (collapsing them into the message would break it)."""
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", f"/api?itemId=1&token={TOKEN}", "1.1", 200),
        None,
    )
    assert RedactingFilter().filter(record)
    assert isinstance(record.args, tuple)
    assert len(record.args) == 5
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s').format(record)
    assert TOKEN not in line
    assert "token=***" in line


def test_a_secret_split_between_format_and_argument_is_masked() -> None:
    register_secret(TOKEN)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token=%s", ("abc",), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "token=***"
    clean = logging.LogRecord("x", logging.INFO, __file__, 1, "item %s", ("1",), None)
    assert RedactingFilter().filter(clean)
    assert clean.args == ("1",)  # nothing to mask: the record is left as it was


def test_httpx_urls_in_arguments_are_masked() -> None:
    url = httpx.URL(f"http://x/api?token={TOKEN}")
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "HTTP Request: %s %s", ("GET", url), None
    )
    assert RedactingFilter().filter(record)
    assert TOKEN not in record.getMessage()


def test_masking_keeps_json_text_valid() -> None:
    """A masked value ends at an escape: JSON holding a server message that quotes
    ``?token=...`` stays JSON (the MCP adapter redacts its results as JSON text)."""
    body = {"message": f"send it as 'Authorization: Bearer {TOKEN}' or ?token={TOKEN}"}
    masked = json.loads(redact(json.dumps(body)))
    assert masked == {"message": "send it as 'Authorization: Bearer ***' or ?token=***"}
    quoted = {"message": 'say "?token=<token>" or "key=abc"'}
    assert json.loads(redact(json.dumps(quoted)))["message"] == 'say "?token=<token>" or "key=***"'
