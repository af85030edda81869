"""Wording shared by every part: counting words right (``1 call``, ``2 calls``, ``1 entry``,
``3 entries``) and saying each thing of a message once. Imports only the standard
library, so every part of the package may use it.
"""

from __future__ import annotations

import re

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


def say_once(text: str, *sources: str) -> str:
    """``text`` with each clause of ``sources`` (split at ``;``) kept only where it first appears.

    Server messages often repeat the meaning or the advice the client adds ("retrying
    will not help" four times in one line); a message says each thing once.
    """
    for source in sources:
        for clause in (part.strip() for part in source.split(";")):
            if len(clause) < 8:
                continue
            first = text.lower().find(clause.lower())
            if first < 0:
                continue
            head, tail = text[: first + len(clause)], text[first + len(clause) :]
            # a repeated clause goes with what separates it: "; x", ", x", " x" or "x: " (a label)
            pattern = re.compile(r"[;,]?\s*" + re.escape(clause) + r"(?:\s*:\s*)?", re.IGNORECASE)
            text = head + pattern.sub("", tail)
    return text
