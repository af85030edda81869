"""Messages to every process of a deployment: "a task finished", "tokens changed".

:class:`Broadcast` is the seam; :class:`LocalBroadcast` (embedded profile) delivers to
this process only, :class:`~jditem.server.shared.broadcast_redis.RedisBroadcast` (scale-out
profile) to every process through Redis pub/sub. Delivery to the publishing process is
immediate and never depends on Redis. Listeners are plain functions called on the
event loop; they must be quick and must not raise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

#: Topic: a task for the item (message) reached a final state.
TASK_DONE = "done"
#: Topic: tokens, accounts or balances changed (message unused): drop cached identities.
IDENTITIES = "identities"
#: Topic: the relay's upstream circuit changed or the upstream asked for a pause (JSON).
UPSTREAM = "upstream"

Listener = Callable[[str], None]


class Broadcast(Protocol):
    """Publish a message on a topic to every process; listen to a topic in this one."""

    @property
    def connected(self) -> bool:
        """True when messages reach the other processes (always True when there are none)."""
        ...

    async def publish(self, topic: str, message: str = "") -> None:
        """Deliver ``message`` to this process's listeners of ``topic``, then to the others."""
        ...

    def listen(self, topic: str, listener: Listener) -> None:
        """Call ``listener(message)`` for every message on ``topic`` (from any process)."""
        ...


class Listeners:
    """Listeners by topic, shared by the broadcast implementations."""

    def __init__(self) -> None:
        self._by_topic: dict[str, list[Listener]] = {}

    def add(self, topic: str, listener: Listener) -> None:
        """Register ``listener`` for ``topic``."""
        self._by_topic.setdefault(topic, []).append(listener)

    def deliver(self, topic: str, message: str) -> None:
        """Call every listener of ``topic``; a failing listener is logged, not raised."""
        for listener in self._by_topic.get(topic, ()):
            try:
                listener(message)
            except Exception:
                log.exception("broadcast listener for %r failed", topic)


class LocalBroadcast:
    """:class:`Broadcast` within one process (the embedded profile)."""

    connected = True

    def __init__(self) -> None:
        self._listeners = Listeners()

    async def publish(self, topic: str, message: str = "") -> None:
        """Deliver to this process's listeners."""
        self._listeners.deliver(topic, message)

    def listen(self, topic: str, listener: Listener) -> None:
        """Register ``listener`` for ``topic``."""
        self._listeners.add(topic, listener)
