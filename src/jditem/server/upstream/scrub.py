"""Scrub the upstream token from everything the upstream sends back (SPEC §5).

An upstream may echo the token it was called with — inside code-0 product data, as a
request id, in a message, in a header — and whatever the relay keeps from an answer is
stored (results, ``upstream_calls``), served to callers and shown on pages. So the
token is replaced by ``***`` in the answer *before* anything reads it:

* :meth:`Scrubber.body` — in the raw bytes (the token and its URL-encoded forms), then,
  when the body is JSON, in every key and string at every depth of the decoded value
  (which also catches a token written with JSON escapes such as ``\\u0074``); the body
  is re-encoded only when the walk changed something;
* :meth:`Scrubber.text` — in one string (a header value).

Only the exact token (and its encoded forms) is replaced: product data that merely
looks like a credential (``token=`` in an image URL) is passed through unchanged.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"


class Scrubber:
    """Replaces one secret (and its URL-encoded forms) in upstream answers."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the secret to scrub is empty")
        forms = {secret, quote(secret, safe=""), quote_plus(secret, safe="")}
        self._forms = sorted(forms, key=len, reverse=True)
        self._byte_forms = [form.encode("utf-8") for form in self._forms]

    def text(self, value: str) -> str:
        """``value`` with the secret masked."""
        for form in self._forms:
            if form in value:
                value = value.replace(form, MASK)
        return value

    def body(self, raw: bytes) -> bytes:
        """``raw`` with the secret masked, at every depth when it is JSON (module doc)."""
        for form in self._byte_forms:
            if form in raw:
                raw = raw.replace(form, MASK.encode())
        if b"\\" not in raw:
            return raw  # no JSON escape: the byte replacement above found every copy
        try:
            decoded = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return raw
        cleaned, changed = self._walk(decoded)
        if not changed:
            return raw
        return json.dumps(cleaned, separators=(",", ":")).encode("ascii")

    def _walk(self, value: Any) -> tuple[Any, bool]:
        if isinstance(value, str):
            cleaned = self.text(value)
            return cleaned, cleaned is not value
        if isinstance(value, list):
            changed = False
            items = []
            for item in value:
                clean, hit = self._walk(item)
                items.append(clean)
                changed = changed or hit
            return (items, True) if changed else (value, False)
        if isinstance(value, dict):
            changed = False
            pairs = {}
            for key, item in value.items():
                clean_key = self.text(key)
                clean, hit = self._walk(item)
                pairs[clean_key] = clean
                changed = changed or hit or clean_key is not key
            return (pairs, True) if changed else (value, False)
        return value, False
