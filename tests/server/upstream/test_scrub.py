"""Scrubber: the upstream token leaves no trace in an upstream answer, at any depth."""

from __future__ import annotations

import json

import pytest

from jditem.server.upstream.scrub import MASK, Scrubber

SECRET = "up/secret+42"


def test_literal_and_url_encoded_copies_are_masked_in_bytes() -> None:
    body = b'{"a": "up/secret+42", "b": "x?token=up%2Fsecret%2B42"}'
    clean = Scrubber(SECRET).body(body)
    assert b"secret" not in clean
    assert json.loads(clean) == {"a": MASK, "b": f"x?token={MASK}"}


def test_json_escaped_copies_are_masked_at_every_depth_keys_included() -> None:
    escaped = "".join(f"\\u{ord(ch):04x}" for ch in SECRET)  # "\\u0075\\u0070..."
    body = (
        '{"code": 0, "requestId": "'
        + escaped
        + '", "data": {"deep": [{"x": ["pre '
        + escaped
        + ' post"]}], "'
        + escaped
        + '": 1, "n": 3, "ok": true, "none": null}}'
    ).encode()
    assert SECRET.encode() not in body
    clean = Scrubber(SECRET).body(body)
    decoded = json.loads(clean)
    assert SECRET not in json.dumps(decoded)
    assert decoded["requestId"] == MASK
    assert decoded["data"] == {
        "deep": [{"x": [f"pre {MASK} post"]}],
        MASK: 1,
        "n": 3,
        "ok": True,
        "none": None,
    }


def test_a_body_without_the_token_is_passed_through_unchanged() -> None:
    body = b'{"code": 0, "data": {"url": "https:\\/\\/img.example\\/a.jpg?token=public"}}'
    assert Scrubber(SECRET).body(body) is body


def test_non_json_bodies_and_text() -> None:
    scrubber = Scrubber(SECRET)
    assert scrubber.body(b"<html>up/secret+42</html>") == b"<html>***</html>"
    assert scrubber.text("req-up/secret+42") == "req-***"
    with pytest.raises(ValueError, match="empty"):
        Scrubber("")
