"""The upstream circuit: open while the upstream refuses us, probed, closed on recovery.

SPEC §5: upstream codes 100 / 303 / 600 / 601 / 602 mean the upstream will not serve
us (bad upstream token, its quota, its balance...). The circuit then *opens*: new
callers of uncollected items are answered 503 at once, naming the upstream code;
cached items are still served. Every ``probe_seconds`` one call is let through (the
circuit is *half open*); when the upstream answers anything but a refusal, the circuit
closes by itself. Every change is passed to ``on_change`` (recorded in
``upstream_events`` for the console and ``jditem admin upstream``).

In-process state: in the scale-out profile each process keeps its own circuit, which
opens on its own first refusal (a refusal is free, so this costs nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

State = Literal["closed", "open", "half_open"]

#: Upstream body codes that open the circuit (SPEC §5).
OPENING_CODES = frozenset({100, 303, 600, 601, 602})

_MEANING = {
    100: "the upstream token is invalid or inactive",
    303: "the upstream daily quota is exceeded",
    600: "the upstream token may not use this endpoint",
    601: "the upstream account balance is exhausted",
    602: "the upstream token's budget is exhausted",
}


@dataclass(frozen=True)
class CircuitChange:
    """One transition, as recorded."""

    state: State
    code: int | None
    message: str


def refusal_message(code: int) -> str:
    """Why the upstream refuses us, naming its code (never the token)."""
    meaning = _MEANING.get(code, "the upstream refuses our calls")
    return f"upstream unavailable: upstream code {code} ({meaning})"


class Circuit:
    """Open / half-open / closed, with a probe every ``probe_seconds``."""

    def __init__(
        self,
        probe_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[CircuitChange], object] | None = None,
    ) -> None:
        self.probe_seconds = probe_seconds
        self._clock = clock
        self._on_change = on_change
        self.state: State = "closed"
        self.code: int | None = None
        self.message = ""
        self._next_probe = 0.0

    def _change(self, state: State, code: int | None, message: str) -> None:
        self.state, self.code, self.message = state, code, message
        if self._on_change is not None:
            self._on_change(CircuitChange(state, code, message))

    def refusal(self) -> str | None:
        """For a new caller of an uncollected item: None to go ahead, else the 503 message.

        When a probe is due, one caller goes ahead (its task is the probe).
        """
        if self.state == "closed":
            return None
        now = self._clock()
        if now >= self._next_probe:
            self._next_probe = now + self.probe_seconds
            self._change("half_open", self.code, f"probing the upstream ({self.message})")
            return None
        return self.retry_message()

    def retry_message(self) -> str:
        """The 503 message while open: the upstream code and when the next probe is due."""
        wait = max(1, round(self._next_probe - self._clock()))
        return f"{self.message}; new items cannot be collected now, retry in {wait} s"

    @property
    def retry_after(self) -> int:
        """Seconds until the next probe (at least 1)."""
        return max(1, round(self._next_probe - self._clock()))

    def may_call(self) -> bool:
        """For a worker about to call the upstream: False while open (not probing)."""
        return self.state != "open"

    def trip(self, code: int, message: str | None = None) -> None:
        """The upstream refused us with ``code``: open (again) until the next probe."""
        self._next_probe = self._clock() + self.probe_seconds
        text = message or refusal_message(code)
        if self.state != "open" or self.code != code:
            self._change("open", code, text)
        else:
            self.message = text

    def succeeded(self) -> None:
        """The upstream answered something other than a refusal: close."""
        if self.state != "closed":
            self._change("closed", None, "the upstream answered again")
