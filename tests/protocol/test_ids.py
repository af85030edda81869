"""Item ids (SPEC §2: 1-20 ASCII digits) and JD URL parsing."""

import pytest

from jditem.protocol import is_valid_item_id, item_id_problem, parse_item_ref


@pytest.mark.parametrize("value", ["1", "100012043978", "9" * 20])
def test_valid(value: str) -> None:
    assert is_valid_item_id(value)
    assert item_id_problem(value) is None


@pytest.mark.parametrize(
    "value", ["", "9" * 21, "-1", "+1", " 1", "1 ", "12a", "١٢٣", "１２３", "1.0", "0x1"]
)
def test_invalid(value: str) -> None:
    assert not is_valid_item_id(value)
    problem = item_id_problem(value)
    assert problem is not None
    assert "itemId" in problem


def test_missing() -> None:
    assert "required" in (item_id_problem(None) or "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100012043978", "100012043978"),
        ("  100012043978\n", "100012043978"),
        ("https://item.jd.com/100012043978.html", "100012043978"),
        ("http://item.jd.com/100012043978.html?spm=1#x", "100012043978"),
        ("item.jd.com/100012043978.html", "100012043978"),
        ("https://item.m.jd.com/product/100012043978.html?x=1", "100012043978"),
        ("https://example.com/100012043978.html", None),
        ("not an id", None),
        ("https://item.jd.com/abc.html", None),
    ],
)
def test_parse_item_ref(text: str, expected: str | None) -> None:
    assert parse_item_ref(text) == expected
