"""Strength and shape checks of what the operator configures: keys and the public URL."""

from __future__ import annotations

import math
from collections import Counter
from urllib.parse import urlsplit

#: Shortest admin key accepted, and the least estimated entropy (bits) it must carry.
#: The estimate of a random 32-hex-digit key (128 real bits) averages 115 and fell below
#: 96 for 99 keys in a million (so 96 refused good keys), never below 89: 80 refuses no
#: random key while a short alphabet or a repeated word still scores far less.
ADMIN_KEY_MIN_LENGTH = 32
ADMIN_KEY_MIN_BITS = 80
#: How to make a good admin key (quoted by the start-up error).
ADMIN_KEY_HOWTO = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def estimated_entropy_bits(text: str) -> float:
    """Shannon entropy of ``text``'s characters times its length (a crude strength bound).

    A random ``secrets.token_urlsafe(32)`` scores about 200 bits, ``token_hex(16)`` about
    110; a repeated word or a short alphabet scores far less.
    """
    if not text:
        return 0.0
    counts = Counter(text)
    total = len(text)
    per_char = -sum(n / total * math.log2(n / total) for n in counts.values())
    return per_char * total


def admin_key_problem(key: str) -> str | None:
    """Why ``key`` is too weak to be the admin key, or ``None`` when it is fine."""
    if len(key) < ADMIN_KEY_MIN_LENGTH:
        why = f"it has {len(key)} characters; at least {ADMIN_KEY_MIN_LENGTH} are required"
    elif estimated_entropy_bits(key) < ADMIN_KEY_MIN_BITS or len(set(key)) < 8:
        why = "it is too predictable (too few different characters)"
    elif (key + key).find(key, 1) < len(key):
        why = "it is too predictable (a repeated pattern)"
    else:
        return None
    return f"too weak: {why}. Generate one with: {ADMIN_KEY_HOWTO}"


def public_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the base of links the server hands out, or ``None``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s) address such as https://jd.example.com"
    if parts.query or parts.fragment or parts.username or parts.password:
        return f"{url!r} must be a plain address (no user, query or fragment)"
    if any(c.isspace() or ord(c) < 32 for c in url):
        return f"{url!r} must not contain spaces or control characters"
    return None
