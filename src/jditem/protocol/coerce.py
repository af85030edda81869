"""Coercion helpers for tolerant parsing: each answers ``None`` (or empty) for what it cannot read.

Used by :mod:`jditem.protocol.normalize`; no I/O, no exceptions for odd input.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "ID_SPLIT",
    "IMAGE_BASE",
    "absolute_image_url",
    "as_bool",
    "as_decimal",
    "as_dict",
    "as_id",
    "as_int",
    "as_list",
    "as_positive",
    "as_text",
    "first_id",
    "first_text",
    "strip_html",
    "unique",
]

#: Base for JD's relative image paths (``jfs/t1/...``).
IMAGE_BASE = "https://img30.360buyimg.com/sku/"

_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
#: What an image reference must not contain (``\s`` is ``str.isspace``).
_NOT_IN_URL = re.compile(r"[\s\\]")
#: Separators between ids in one string ("1316,1381,1396", "1316;1381").
ID_SPLIT = re.compile(r"[,;|/\s]+")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_TRUE = frozenset({"1", "true", "yes", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "n", "f"})


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_text(value: Any) -> str | None:
    """A non-empty stripped string from a str or a number; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, str):
        text = value.strip()
        return text or None
    return None


def as_id(value: Any) -> str | None:
    """An id as text; ``0``/``"0"`` (JD's "none") counts as missing."""
    text = as_text(value)
    return None if text in (None, "0", "-1") else text


def as_decimal(value: Any) -> Decimal | None:
    """A finite Decimal from a number or a numeric string (``"¥1,390.00"`` too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = value.strip().replace(",", "").lstrip("¥￥").strip()
    if not _NUMBER.fullmatch(text):
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def as_positive(value: Any) -> Decimal | None:
    number = as_decimal(value)
    return number if number is not None and number > 0 else None


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    number = as_decimal(value)
    if number is None or number != number.to_integral_value():
        return None
    return int(number)


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def first_text(*values: Any) -> str | None:
    for value in values:
        text = as_text(value)
        if text is not None:
            return text
    return None


def first_id(*values: Any) -> str | None:
    for value in values:
        text = as_id(value)
        if text is not None:
            return text
    return None


def strip_html(value: Any) -> str | None:
    text = as_text(value)
    if text is None:
        return None
    return as_text(_SPACE.sub(" ", html.unescape(_TAG.sub("", text))))


def unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def absolute_image_url(value: Any) -> str | None:
    """JD image reference → absolute https URL; None when it is not a usable reference.

    ``jfs/t1/...`` → ``https://img30.360buyimg.com/sku/jfs/t1/...``; ``//host/p`` →
    ``https://host/p``; ``http://`` → ``https://``.
    """
    text = as_text(value)
    if text is None or _NOT_IN_URL.search(text) is not None:
        return None
    lowered = text.lower()
    if lowered.startswith("https://"):
        return text if len(text) > len("https://") else None
    if lowered.startswith("http://"):
        return "https://" + text[len("http://") :] if len(text) > len("http://") else None
    if text.startswith("//"):
        return "https:" + text if len(text) > 2 else None
    if "://" in text or ":" in text.split("/", 1)[0]:
        return None
    path = text.lstrip("/")
    return IMAGE_BASE + path if "/" in path else None
