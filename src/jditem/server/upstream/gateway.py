"""The relay's upstream parts held together for the API, the console and shutdown."""

from __future__ import annotations

import asyncio
import json
import math
import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

from jditem.server.shared.broadcast import UPSTREAM, Broadcast
from jditem.server.upstream.accounting import UpstreamLedger
from jditem.server.upstream.circuit import Circuit
from jditem.server.upstream.rate import UpstreamRate


class Closable(Protocol):
    """Something with an async ``aclose`` (the relay collector's connection pool)."""

    async def aclose(self) -> None:
        """Release the resources."""
        ...


@dataclass
class Upstream:
    """Shared rate, circuit and ledger of the relay, plus what to close at shutdown."""

    base_url: str
    rate: UpstreamRate
    circuit: Circuit
    ledger: UpstreamLedger
    collector: Closable
    _origin: str = field(default_factory=lambda: secrets.token_hex(8))
    _sending: set[asyncio.Task[None]] = field(default_factory=set)

    def share(self, broadcast: Broadcast) -> None:
        """Tell the other processes of the deployment about this one's circuit changes
        and upstream pauses, and take theirs (SPEC §2.8: an API process answers 503 for
        a circuit a worker opened; every worker honours a pause). Best effort: without
        the broadcast each process decides on its own answers, as before."""

        def send(kind: str, body: dict[str, Any]) -> None:
            message = json.dumps({"origin": self._origin, "kind": kind, **body})
            task = asyncio.get_running_loop().create_task(broadcast.publish(UPSTREAM, message))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

        def receive(message: str) -> None:
            data = json.loads(message)
            if data.get("origin") == self._origin:
                return
            if data.get("kind") == "circuit":
                self.circuit.adopt(data)
            elif data.get("kind") == "pause":
                self.rate.hold(float(data["seconds"]))

        self.circuit.also_notify(lambda _change: send("circuit", self.circuit.snapshot()))
        self.rate.on_pause = lambda seconds: send("pause", {"seconds": seconds})
        broadcast.listen(UPSTREAM, receive)

    def status(self) -> dict[str, Any]:
        """The circuit and the pause now, as anyone may see them (health).

        ``circuit`` is ``closed``, ``open``, ``probe_due`` (the next caller of a new
        item is the probe) or ``half_open`` (a probe is under way); ``retryAfter`` is
        the wait until the next probe while not closed; ``pauseSeconds`` how long the
        upstream's last ``Retry-After`` (capped at 120 s) still holds every upstream
        call back (0: no pause). No operator detail: see :meth:`operator_status`.
        """
        circuit = self.circuit
        return {
            "circuit": circuit.shown_state,
            "code": circuit.code,
            "message": circuit.message,
            "retryAfter": None if circuit.state == "closed" else circuit.retry_after,
            "pauseSeconds": math.ceil(self.rate.paused_for()),
        }

    def operator_status(self) -> dict[str, Any]:
        """:meth:`status` plus what only the operator sees: upstream URL, rate in force."""
        return {
            **self.status(),
            "baseUrl": self.base_url,
            "rate": round(self.rate.current, 3),
        }

    async def aclose(self) -> None:
        """Close the collector's connections and finish pending event writes."""
        try:
            await self.collector.aclose()
        finally:
            await self.ledger.drain()
