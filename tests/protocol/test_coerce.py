"""Coercion helpers of the normalizer."""

from __future__ import annotations

from typing import Any

import pytest

from jditem.protocol.coerce import absolute_image_url


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("jfs/t1/1/a.jpg", "https://img30.360buyimg.com/sku/jfs/t1/1/a.jpg"),
        ("/jfs/t1/1/a.jpg", "https://img30.360buyimg.com/sku/jfs/t1/1/a.jpg"),
        ("//img10.360buyimg.com/n1/a.jpg", "https://img10.360buyimg.com/n1/a.jpg"),
        ("http://img13.360buyimg.com/n12/a.jpg", "https://img13.360buyimg.com/n12/a.jpg"),
        ("https://x.example/a.png", "https://x.example/a.png"),
        ("", None),
        ("\\", None),
        ("noslash.jpg", None),
        ("javascript:alert(1)", None),
        (None, None),
        (12, None),
    ],
)
def test_absolute_image_url(reference: Any, expected: str | None) -> None:
    assert absolute_image_url(reference) == expected
