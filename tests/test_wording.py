"""Counting words right (issue 18 item 8: "1 entries", "1 calls", "1 tokens")."""

from __future__ import annotations

import pytest

from jditem.wording import plural, say_once


@pytest.mark.parametrize(
    ("count", "noun", "expected"),
    [
        (1, "call", "1 call"),
        (0, "call", "0 calls"),
        (2, "entry", "2 entries"),
        (1, "entry", "1 entry"),
        (3, "key", "3 keys"),
        (2, "box", "2 boxes"),
        (1_470, "row", "1,470 rows"),
        (2, "new id", "2 new ids"),
    ],
)
def test_plural(count: int, noun: str, expected: str) -> None:
    assert plural(count, noun) == expected


def test_an_irregular_plural_is_given() -> None:
    assert plural(2, "child", "children") == "2 children"


def test_say_once_keeps_the_first_of_each_repeated_clause() -> None:
    """One rule for the library's messages and the CLI's: a repeated clause goes with
    what separates it from the text before it."""
    text = (
        "drop this item; retrying will not help (server: retrying will not help), "
        "retrying will not help"
    )
    assert (
        say_once(text, "retrying will not help")
        == "drop this item; retrying will not help (server:)"
    )
    assert say_once("a label: label text", "label text") == "a label: label text"
    assert say_once("short; ok; ok", "ok") == "short; ok; ok"  # clauses under 8 characters stay
