"""A run's pause while the server's circuit to its upstream is open (SPEC §5).

A gateway (a jditem relay) whose upstream refuses it answers callers of uncollected
items at once with 503 and ``data.circuit`` = ``open`` / ``probe_due``. Every item of a
run meeting that on its own would wait out its own retries; instead, the run pauses as
a whole (:class:`CircuitPause`):

* the first such answer pauses every new call of the run for its ``Retry-After``
  (calls already on the wire finish);
* then exactly one call — the *probe* — goes out; while it is out, nothing else does;
* the probe answered with that 503 again: the pause starts over (a new ``Retry-After``);
  answered with anything else: the pause ends and the run goes on at full concurrency;
* a pause that has lasted ``max_pause`` seconds ends the run (:meth:`CircuitPause.expired`).

Only the probe's answer ends a pause: other calls still answer while the circuit is
open (a gateway serves cached items), so their answers say nothing about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from jditem import errors

#: Pause when a circuit 503 carries no ``Retry-After`` (the wire shape always has one).
DEFAULT_WAIT = 5.0
#: Shortest pause before a probe (``Retry-After: 0`` must not make probes spin).
MIN_WAIT = 0.25


def circuit_error(error: errors.JditemError | None) -> errors.ServiceUnavailableError | None:
    """``error`` when it is a 503 naming an open upstream circuit, else ``None``."""
    if isinstance(error, errors.ServiceUnavailableError) and error.circuit is not None:
        return error
    return None


class CircuitPause:
    """The pause and its probe (module docstring). Use from one event loop."""

    def __init__(self, max_pause: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_pause = max_pause
        self._clock = clock
        #: When the current pause began (``None``: not paused).
        self.since: float | None = None
        self._resume_at = 0.0
        self._probe_out = False
        #: Probes sent over the run, and pauses begun.
        self.probes = 0
        self.pauses = 0
        #: The last circuit answer (for messages).
        self.last: errors.ServiceUnavailableError | None = None
        self._changed = asyncio.Event()

    @property
    def paused(self) -> bool:
        """Whether new calls wait."""
        return self.since is not None

    def expired(self) -> bool:
        """Whether the current pause has lasted ``max_pause`` seconds."""
        return self.since is not None and self._clock() - self.since >= self.max_pause

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def wake(self) -> None:
        """Wake every waiter (to look at the run's state again, e.g. it is stopping)."""
        self._notify()

    async def wait_turn(self, stopping: Callable[[], bool]) -> bool:
        """Wait while paused; ``True`` when the caller's call is the probe.

        Returns at once when not paused, or when ``stopping()`` or :meth:`expired` turns
        true (the caller checks those).
        """
        while self.since is not None and not stopping() and not self.expired():
            now = self._clock()
            if not self._probe_out and now >= self._resume_at:
                self._probe_out = True
                self.probes += 1
                return True
            timeout = None if self._probe_out else self._resume_at - now
            if timeout is not None:
                timeout = min(timeout, self.since + self.max_pause - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)
        return False

    def answered(
        self, error: errors.JditemError | None, retry_after: float | None, *, probe: bool
    ) -> bool:
        """Account for one answer; ``True`` when it was a circuit 503 (the item waits)."""
        circuit = circuit_error(error)
        if circuit is None:
            if probe:  # anything but that 503: the pause is over
                self.since = None
                self._probe_out = False
                self._notify()
            return False
        now = self._clock()
        self.last = circuit
        wait = DEFAULT_WAIT if retry_after is None else max(MIN_WAIT, retry_after)
        if self.since is None:
            self.since = now
            self.pauses += 1
            self._resume_at = now + wait
        elif probe:
            self._resume_at = now + wait
        else:
            self._resume_at = max(self._resume_at, now + wait)
        if probe:
            self._probe_out = False
        self._notify()
        return True

    def probe_abandoned(self) -> None:
        """The probe's call was not made after all (stopped, deadline): let another go."""
        self._probe_out = False
        self._notify()

    def describe(self) -> str:
        """``upstream code 601, circuit open`` and the like, for messages."""
        last = self.last
        if last is None:
            return "circuit open"
        state = (last.circuit or "open").replace("_", " ")
        code = f"upstream code {last.upstream_code}, " if last.upstream_code is not None else ""
        return f"{code}circuit {state}"
