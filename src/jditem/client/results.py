"""What a ``get_many`` run yields for each item (:class:`ItemResult`), and the hooks it
calls as items settle (:class:`RunHooks`): the batch job keeps its journal and cache
through them, the MCP adapter its accounting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from jditem import errors
from jditem.client.calls import CallInfo
from jditem.protocol.product import Product


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One item's outcome: a product, or the error that settled it."""

    item_id: str
    product: Product | None = None
    error: errors.JditemError | None = None
    source: Literal["api", "cache"] = "api"
    calls: int = 0
    product_json: str | None = None

    @property
    def ok(self) -> bool:
        """True when a product arrived."""
        return self.product is not None


class RunHooks:
    """No-op hooks of :class:`~jditem.client.many.ManyRun`, for subclasses to fill."""

    def _lookup(self, item_id: str) -> ItemResult | None:
        """A result known without a call (the batch job's local cache), else ``None``."""
        return None

    async def _before_send(self, item_id: str) -> None:
        """A call for ``item_id`` is about to go on the wire (it waits for this)."""

    def _on_answer(self, item_id: str, info: CallInfo) -> None:
        """A call for ``item_id`` was answered (or failed)."""

    def _on_done(self, item_id: str, product: Product, calls: int) -> ItemResult:
        """``item_id`` arrived; returns its result."""
        return ItemResult(item_id, product=product, calls=calls)

    def _on_failed(self, item_id: str, error: errors.JditemError) -> None:
        """``item_id`` is settled with ``error`` (not retried by a rerun)."""

    def _on_left_pending(self, item_id: str, error: errors.PendingTimeoutError) -> None:
        """``item_id`` was still pending at its deadline."""

    def _on_uncertain(self, item_id: str, error: errors.AmbiguousOutcomeError) -> None:
        """``item_id``'s last call was sent without a complete answer, against a server that
        does not honour keys: it may have been charged; never asked again automatically."""

    def _settle_unfinished(self, item_id: str, calls: int) -> None:
        """The run stopped on ``item_id`` after ``calls`` call(s); a rerun asks again."""
