"""A settable clock for servers under test (``create_app(settings, clock=...)``).

``FrozenClock(now)`` answers ``now`` until ``set`` moves it; thread-safe, because the
live server calls it from its own thread.
"""

from __future__ import annotations

import threading
from datetime import datetime


class FrozenClock:
    """A settable clock (thread-safe: the server runs in another thread)."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, now: datetime) -> None:
        with self._lock:
            self._now = now
