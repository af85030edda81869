"""Endpoint fallback, without I/O: which endpoint to call next for one item.

Opt-in (``Client(endpoints=("v2", "v1"))``, ``jditem get --endpoints v2,v1``, the
relay's ``upstream_endpoints``): each endpoint may be priced differently, so the
client never switches on its own. Only an *instruction message* — code 0 without
product data, :attr:`~jditem.client.calls.Outcome.NOT_SERVING_DATA` — moves on to the
next endpoint; every other answer is handled on the endpoint that gave it.
"""

from __future__ import annotations

from collections.abc import Iterable

from jditem.client.calls import Classified, Outcome
from jditem.client.config import parse_endpoints

__all__ = ["EndpointFallback", "parse_endpoints"]


class EndpointFallback:
    """The endpoint in use for one item, and the decision to move to the next one."""

    def __init__(self, endpoints: Iterable[str]) -> None:
        self.endpoints = parse_endpoints(endpoints)
        self._index = 0
        #: ``(endpoint, reason)`` for every switch made, in order.
        self.switches: list[tuple[str, str]] = []

    @property
    def current(self) -> str:
        """The endpoint to call now."""
        return self.endpoints[self._index]

    def advance(self, classified: Classified) -> str | None:
        """After an answer on :attr:`current`: the next endpoint to try, or None.

        None when the answer is not an instruction message (handle it as usual) or
        when no endpoint is left (raise the answer's error).
        """
        if classified.outcome is not Outcome.NOT_SERVING_DATA:
            return None
        if self._index + 1 >= len(self.endpoints):
            return None
        left = self.current
        self._index += 1
        self.switches.append((left, f"{left} answered an instruction message"))
        return self.current
