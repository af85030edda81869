"""Input parsing: ids, JD URLs, comments, invalid lines with line numbers."""

from __future__ import annotations

from jditem.batch.inputs import InvalidLine, ItemLine, parse_lines, unique_ids


def test_ids_urls_comments_and_invalid_lines() -> None:
    lines = [
        "\ufeff100012043978\n",
        "\n",
        "# a comment\n",
        "  https://item.jd.com/100012043979.html?spm=1#x  \n",
        "item.m.jd.com/product/100012043980.html\n",
        "not an id\n",
        "-5\n",
        "100012043978\n",
    ]
    parsed = list(parse_lines(lines))
    assert parsed == [
        ItemLine(1, "100012043978"),
        ItemLine(4, "100012043979"),
        ItemLine(5, "100012043980"),
        InvalidLine(6, "not an id"),
        InvalidLine(7, "-5"),
        ItemLine(8, "100012043978"),
    ]
    bad = parsed[3]
    assert isinstance(bad, InvalidLine)
    assert bad.message.startswith("line 6: 'not an id'")
    assert "skipped" in bad.message


def test_long_invalid_line_is_shortened_in_message() -> None:
    (bad,) = parse_lines(["x" * 500])
    assert isinstance(bad, InvalidLine)
    assert len(bad.message) < 300


def test_unique_ids_keeps_first_seen_order() -> None:
    assert list(unique_ids(["3", "1", "3", "junk", "2", "1"])) == ["3", "1", "2"]
