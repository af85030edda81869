"""Server-rendered console at ``/console`` (placeholder until the console lands)."""

from __future__ import annotations

from typing import Any


def mount(app: Any) -> None:
    """Attach the console's routes and static files to ``app`` (a FastAPI app)."""
