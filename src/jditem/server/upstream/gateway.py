"""The relay's upstream parts held together for the API, the console and shutdown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

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

    def status(self) -> dict[str, Any]:
        """The circuit and rate now (health endpoint, console)."""
        return {
            "baseUrl": self.base_url,
            "circuit": self.circuit.state,
            "code": self.circuit.code,
            "message": self.circuit.message,
            "rate": round(self.rate.current, 3),
        }

    async def aclose(self) -> None:
        """Close the collector's connections and finish pending event writes."""
        try:
            await self.collector.aclose()
        finally:
            await self.ledger.drain()
