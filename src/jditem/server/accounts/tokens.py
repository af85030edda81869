"""API token generation and hashing. Only the hash and a short prefix are ever stored."""

from __future__ import annotations

import hashlib
import secrets

#: Every raw token starts with this marker (helps secret scanners and humans).
TOKEN_MARKER = "jd_"  # noqa: S105 - a public marker, not a secret
#: Characters of the raw token kept visible (the marker plus a few random characters).
PREFIX_LENGTH = 10


def generate_token() -> str:
    """A new random raw token: ``jd_`` + 43 URL-safe characters (256 bits)."""
    return TOKEN_MARKER + secrets.token_urlsafe(32)


def hash_token(raw: str) -> str:
    """The SHA-256 hex digest stored in ``tokens.token_hash``."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def token_prefix(raw: str) -> str:
    """The short visible part shown in listings, e.g. ``jd_AbC1234``."""
    return raw[:PREFIX_LENGTH]
