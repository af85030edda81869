"""Item lists, read the same by ``jditem batch`` and the console: ids, JD URLs,
comments, CSV headers, invalid lines with line numbers."""

from __future__ import annotations

import io

import pytest

from jditem.formats.items import (
    InputError,
    InputInfo,
    InvalidLine,
    ItemLine,
    collect,
    detect_format,
    parse_input,
    parse_lines,
    sniff_format,
)


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


def test_several_ids_on_a_line_and_quoted_ids() -> None:
    lines = ["100012043978, 7; item.m.jd.com/product/42.html?x=1\n", "  '8' \n", "1 two\n"]
    assert list(parse_lines(lines)) == [
        ItemLine(1, "100012043978"),
        ItemLine(1, "7"),
        ItemLine(1, "42"),
        ItemLine(2, "8"),
        InvalidLine(3, "1 two"),
    ]


@pytest.mark.parametrize(
    ("first", "fmt"),
    [
        ("100012043978", "lines"),
        ("100012043978, 7", "lines"),
        ("https://item.jd.com/1.html?a=b,c", "lines"),
        ("sku,name,price_hint", "csv"),
        ("itemId", "csv"),
        ("name\tsku", "csv"),
        ('{"sku": 1}', "jsonl"),
        ("hello", "lines"),
    ],
)
def test_sniffing_a_nameless_input(first: str, fmt: str) -> None:
    assert sniff_format(first) == fmt


def test_a_known_suffix_wins_over_sniffing() -> None:
    assert detect_format("ids.csv", "100012043978,5999") == "csv"
    assert detect_format("ids.txt", "sku,name") == "csv"
    assert detect_format("ids.txt", "100012043978") == "lines"
    assert detect_format("", "x", "jsonl") == "jsonl"
    with pytest.raises(InputError, match="unknown input format"):
        detect_format("", "x", "xml")


def test_csv_header_is_reported_and_bad_rows_skipped() -> None:
    info = InputInfo()
    text = "sku,name,price_hint\n100012043978,a,1\nnot-a-sku,b,2\n,c,3\n100012043978,d,4\n"
    listed = collect(parse_input(io.StringIO(text), "csv", info=info))
    assert info.columns == ["sku", "name", "price_hint"]
    assert info.column == "sku"
    assert listed.ids == ["100012043978"]
    assert listed.duplicates == 1
    assert [(bad.line_no, bad.text) for bad in listed.skipped] == [(3, "not-a-sku"), (4, ",c,3")]
    assert listed.skipped[1].reason == "has no value in the id column"


def test_collect_keeps_the_first_skipped_lines_and_counts_all() -> None:
    listed = collect(parse_lines([f"bad{i}\n" for i in range(5)] + ["1\n"]), keep_skipped=2)
    assert listed.skipped_total == 5
    assert [bad.line_no for bad in listed.skipped] == [1, 2]
    more = collect(parse_lines(["1\n", "2\n"]), listed)
    assert more.ids == ["1", "2"]
    assert more.duplicates == 1


def test_an_id_column_needs_a_table() -> None:
    with pytest.raises(InputError, match="a plain list has no columns"):
        parse_input(["1"], "lines", id_column="sku")
    with pytest.raises(InputError, match="no column 'nope'"):
        list(parse_input(["sku,name\n", "1,a\n"], "csv", id_column="nope"))
