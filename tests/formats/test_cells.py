"""Spreadsheet-safe cells (issue 16 item 8): formulas neutralised, numbers kept."""

from __future__ import annotations

import csv
import io

import pytest

from jditem.formats.cells import csv_line, formula_like, safe_text


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://evil.example","x")',
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A9)",
        "\t=1+1",
        "\r=1+1",
        "-",
        "=",
    ],
)
def test_formula_like_text_gets_a_leading_quote(text: str) -> None:
    assert formula_like(text)
    assert safe_text(text) == "'" + text


@pytest.mark.parametrize("text", ["-12.50", "+3", "-0.0001", "1e5", "-.5", "100012043978"])
def test_plain_numbers_stay_numbers(text: str) -> None:
    assert not formula_like(text)
    assert safe_text(text) == text


@pytest.mark.parametrize("text", ["", "a=b", "黛珂 AQ", " =1", "'=x"])
def test_ordinary_text_is_untouched(text: str) -> None:
    assert safe_text(text) == text


def test_csv_line_types() -> None:
    line = csv_line(["=1+1", -5, "-5.00", True, False, None, 'a "b", c'])
    assert line.endswith("\r\n")
    assert next(csv.reader(io.StringIO(line))) == [
        "'=1+1",
        "-5",
        "-5.00",
        "true",
        "false",
        "",
        'a "b", c',
    ]
