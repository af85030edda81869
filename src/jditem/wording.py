"""Counting words right: ``1 call``, ``2 calls``, ``1 entry``, ``3 entries``.

Used wherever a message or a page says how many of something there are. Imports only
the standard library, so every part of the package may use it.
"""

from __future__ import annotations

_ES_ENDINGS = ("s", "x", "z", "ch", "sh")


def plural_of(noun: str) -> str:
    """The English plural of a regular ``noun`` (``entry`` → ``entries``, ``box`` →
    ``boxes``, ``call`` → ``calls``)."""
    if noun.endswith("y") and len(noun) > 1 and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    if noun.endswith(_ES_ENDINGS):
        return noun + "es"
    return noun + "s"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` and ``noun``, in the plural unless ``count`` is 1 (``nouns`` overrides
    the regular plural); counts of 1,000 and more are grouped (``1,470 rows``)."""
    word = noun if count == 1 else (nouns or plural_of(noun))
    return f"{count:,} {word}"
