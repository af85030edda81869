"""Reading a bulk job's list of item ids / JD URLs (no server needed)."""

from __future__ import annotations

import pytest

from jditem.server.console.jobs import MAX_ITEMS, JobInputError, parse_items


def test_ids_urls_separators_duplicates_and_headers() -> None:
    text = (
        "itemId\n100012043978\r\nhttps://item.jd.com/100012043978.html, 7; "
        "item.m.jd.com/product/42.html?x=1\n\n  '8' \n"
    )
    ids, duplicates = parse_items(text)
    assert ids == ["100012043978", "7", "42", "8"]
    assert duplicates == 1


def test_bad_entries_are_listed() -> None:
    with pytest.raises(JobInputError) as info:
        parse_items("1\nabc\nhttps://example.com/2.html\n-3")
    message = str(info.value)
    assert "3 entries" in message
    assert "'abc'" in message
    assert "one id or URL per line" in message


def test_empty_and_too_long_lists() -> None:
    with pytest.raises(JobInputError, match="empty"):
        parse_items(" \n ,")
    with pytest.raises(JobInputError, match="split the list"):
        parse_items("\n".join(str(i) for i in range(1, MAX_ITEMS + 2)))
