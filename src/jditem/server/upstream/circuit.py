"""The upstream circuit: open while the upstream refuses us, probed, closed on recovery.

SPEC §5: upstream codes 100 / 303 / 600 / 601 / 602 mean the upstream will not serve
us (bad upstream token, its quota, its balance...); so does an upstream that answers an
instruction message instead of product data on every endpoint of
``upstream_endpoints`` (no upstream code: ``code`` is None). The circuit then *opens*:
new callers of uncollected items are answered 503 at once (a :class:`Refusal`, naming
the upstream code); cached items are still served. Once ``probe_seconds`` have passed
the probe is *due* (:attr:`Circuit.shown_state` says ``probe_due``): the next caller's
request goes through as the probe (the circuit is *half open* while it runs); when the
upstream answers anything but a refusal, the circuit closes by itself. Every change is
passed to ``on_change`` (recorded in ``upstream_events`` for the console and ``jditem
admin upstream``).

The 503 envelope's ``data`` is :meth:`Refusal.data`, exactly::

    {"retryAfter": <int seconds>, "circuit": "open" | "probe_due", "upstreamCode": <int or null>}

with the same ``Retry-After`` header. Clients build against this shape.

Each process holds its own circuit. In the scale-out profile the processes tell each
other about every change through the broadcast
(:meth:`~jditem.server.upstream.gateway.Upstream.share`: :meth:`Circuit.snapshot` out,
:meth:`Circuit.adopt` in), so an API process answers 503 for a circuit a worker process
opened; without Redis each opens on its own first refusal (a refusal is free). A
worker process never sees callers, so :meth:`Circuit.may_call` lets its next call
through as the probe once the probe is due.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

State = Literal["closed", "open", "half_open"]
#: What health, the console and ``jditem admin upstream`` show: ``probe_due`` is an open
#: circuit whose probe time has come (the next caller of a new item is the probe).
ShownState = Literal["closed", "open", "probe_due", "half_open"]

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
    """One transition, as recorded; ``detail`` is for the operator (log, console)."""

    state: State
    code: int | None
    message: str
    detail: str = ""


@dataclass(frozen=True)
class Refusal:
    """The 503 a caller of an uncollected item gets while the circuit is open."""

    message: str
    retry_after: int
    circuit: Literal["open", "probe_due"]
    upstream_code: int | None

    def data(self) -> dict[str, Any]:
        """The envelope's ``data`` (the wire shape in the module docstring)."""
        return {
            "retryAfter": self.retry_after,
            "circuit": self.circuit,
            "upstreamCode": self.upstream_code,
        }


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
        self._listeners = [on_change] if on_change is not None else []
        self.state: State = "closed"
        self.code: int | None = None
        self.message = ""
        self._next_probe = 0.0
        #: False when waiting cannot help a caller (no "retry in N s" in the 503).
        self._retry_hint = True

    def also_notify(self, listener: Callable[[CircuitChange], object]) -> None:
        """Call ``listener`` on every change made here (not on adopted ones)."""
        self._listeners.append(listener)

    def _change(self, state: State, code: int | None, message: str, detail: str = "") -> None:
        self.state, self.code, self.message = state, code, message
        change = CircuitChange(state, code, message, detail)
        for listener in self._listeners:
            listener(change)

    def _start_probe(self, now: float) -> None:
        self._next_probe = now + self.probe_seconds
        self._change("half_open", self.code, f"probing the upstream ({self.message})")

    def snapshot(self) -> dict[str, Any]:
        """The state for another process (:meth:`adopt`); times relative to now."""
        return {
            "state": self.state,
            "code": self.code,
            "message": self.message,
            "probeIn": max(0.0, self._next_probe - self._clock()),
            "retryHint": self._retry_hint,
        }

    def adopt(self, snapshot: dict[str, Any]) -> None:
        """Take another process's state (:meth:`snapshot`); listeners are not called."""
        state = snapshot.get("state")
        if state not in ("closed", "open", "half_open"):
            raise ValueError(f"not a circuit state: {state!r}")
        code = snapshot.get("code")
        self.state = state
        self.code = int(code) if code is not None else None
        self.message = str(snapshot.get("message", ""))
        self._retry_hint = bool(snapshot.get("retryHint", True))
        self._next_probe = self._clock() + min(self.probe_seconds, float(snapshot["probeIn"]))

    @property
    def shown_state(self) -> ShownState:
        """The state as shown to people: ``open`` becomes ``probe_due`` once it is time."""
        if self.state == "open" and self._clock() >= self._next_probe:
            return "probe_due"
        return self.state

    def refusal(self) -> Refusal | None:
        """For a new caller of an uncollected item: None to go ahead, else the 503.

        When a probe is due, one caller goes ahead (its task is the probe).
        """
        if self.state == "closed":
            return None
        now = self._clock()
        if now >= self._next_probe:
            self._start_probe(now)
            return None
        return self.current_refusal()

    def current_refusal(self) -> Refusal:
        """The 503 while open: the upstream code, and when the next probe is due."""
        wait = self.retry_after
        message = self.message
        if self._retry_hint:
            message = f"{message}; new items cannot be collected now, retry in {wait} s"
        due = self.shown_state == "probe_due"
        return Refusal(message, wait, "probe_due" if due else "open", self.code)

    @property
    def retry_after(self) -> int:
        """Seconds until the next probe (at least 1)."""
        return max(1, round(self._next_probe - self._clock()))

    def may_call(self) -> bool:
        """For a worker about to call the upstream: False while open — until the probe
        is due: then this call is the probe (a worker-only process has no callers)."""
        if self.state != "open":
            return True
        now = self._clock()
        if now < self._next_probe:
            return False
        self._start_probe(now)
        return True

    def trip(
        self,
        code: int | None,
        message: str | None = None,
        *,
        detail: str = "",
        retry_hint: bool = True,
    ) -> None:
        """The upstream refused us (``code``; None: it serves no data): open until the
        next probe. ``detail`` goes to the operator only; ``retry_hint=False`` keeps
        "retry in N s" out of the 503 when waiting cannot help the caller."""
        self._next_probe = self._clock() + self.probe_seconds
        self._retry_hint = retry_hint
        text = message or (refusal_message(code) if code is not None else "upstream unavailable")
        if self.state != "open" or self.code != code:
            self._change("open", code, text, detail)
        else:
            self.message = text

    def succeeded(self) -> None:
        """The upstream answered something other than a refusal: close."""
        if self.state != "closed":
            self._change("closed", None, "the upstream answered again")
