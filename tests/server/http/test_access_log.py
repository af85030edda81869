"""Token redaction in log records (uvicorn's access log prints query strings)."""

from __future__ import annotations

import logging

import httpx

from jditem.redaction import RedactingFilter, redact

TOKEN = "jd_" + "A" * 43


def test_redact_query_bearer_and_bare_tokens() -> None:
    assert (
        redact(f"GET /v2?itemId=1&token={TOKEN} HTTP/1.1") == "GET /v2?itemId=1&token=*** HTTP/1.1"
    )
    assert redact(f"/v2?token={TOKEN}&itemId=1") == "/v2?token=***&itemId=1"
    assert redact(f"Authorization: Bearer {TOKEN}") == "Authorization: Bearer ***"
    assert TOKEN not in redact(f"oops {TOKEN} leaked")
    assert redact("itemId=1&notatoken=1") == "itemId=1&notatoken=1"


def test_filter_rewrites_args_including_url_objects() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", f"/api?token={TOKEN}", "1.1", 200),
        None,
    )
    assert RedactingFilter().filter(record)
    assert TOKEN not in record.getMessage()
    url_record = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        "HTTP Request: %s %s",
        ("GET", httpx.URL(f"http://x/api?token={TOKEN}")),
        None,
    )
    RedactingFilter().filter(url_record)
    assert TOKEN not in url_record.getMessage()
