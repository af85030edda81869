"""One rule for the names people give things: accounts, tokens, and members' e-mails.

A name is shown in pages, tables, logs and CSV files and, for accounts, typed into URL
paths (``/api/admin/accounts/{name}``). So it may not contain ``/`` (the path could not
address it), control characters (NUL cannot even be stored by PostgreSQL), invisible
format characters — bidirectional overrides and isolates such as U+202E turn
``abc‮gpj.exe`` into what reads as ``abcexe.jpg``, zero-width characters hide
differences — or line and paragraph separators (U+2028/U+2029 break a line where none
is seen). Length is bounded. Pure functions; the callers raise their own errors.

The rule applies when a name is *given* (created or renamed). Looking an existing row up
is an exact match and never runs it, so a row created before the rule stays reachable
(and can be renamed: ``jditem admin account rename``).
"""

from __future__ import annotations

import unicodedata

#: Longest account or token name.
MAX_NAME_LENGTH = 100

#: Unicode categories refused anywhere in a name: control, format (bidi overrides,
#: zero-width characters), surrogate, private use, line and paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


def unsafe_character(text: str) -> str | None:
    """The first character of ``text`` no name may contain, described (else ``None``)."""
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            label = unicodedata.name(char, "a control character")
            return f"U+{ord(char):04X} ({label.lower()})"
    return None


def name_problem(text: str, *, allow_slash: bool = False, required: bool = True) -> str | None:
    """Why ``text`` (already stripped) cannot be a name, or ``None`` when it can."""
    if not text:
        return "must not be empty" if required else None
    if len(text) > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters (got {len(text)})"
    if not allow_slash and "/" in text:
        return "must not contain '/'"
    bad = unsafe_character(text)
    if bad is not None:
        return (
            f"must not contain {bad}: control, invisible formatting (such as bidirectional "
            "overrides) and line-separator characters are refused"
        )
    return None
