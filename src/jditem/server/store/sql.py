"""Small portable-SQL helpers."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result


def rowcount(result: Result[Any]) -> int:
    """Rows matched by an UPDATE executed through a session."""
    return cast("CursorResult[Any]", result).rowcount
