"""The batch engine behind ``jditem batch``: :class:`BatchRun`.

A :class:`~jditem.client.many.ManyRun` (bounded concurrency, smooth adaptive rate,
stop on fatal answers or a dead server) that also keeps a journal and a local result
cache:

* an item found in the cache (and not ``refresh``) is answered without a call;
* "in flight" is committed to the journal before every call, and every answer is
  recorded there;
* every call for an item carries the journal's ``Idempotency-Key``
  (:meth:`Journal.idempotency_key`, stable across reruns of the job), so a rerun after a
  crash is not charged again by a server that honours the header;
* an item the run stopped on is left *to do* (no call yet) or *pending* (the next run
  asks again, re-attaching to its server task) — never *failed*;
* against a server that has not said it honours ``Idempotency-Key`` (the vendor), answers
  are committed at the end of their event-loop turn (``Journal.durable_answers``), an
  item whose call got no complete answer is *uncertain* (it may have been charged; only
  ``--retry-uncertain`` asks again), and so is an item a crashed run left in flight
  (:meth:`BatchRun.settle_crashed`). Once the server says it honours keys — on any
  answer, remembered by the journal for its base URL — answers are group-committed and
  such items are asked again under the same key, free on that server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from jditem import errors
from jditem.batch.cache import ResultCache
from jditem.batch.journal import Journal
from jditem.batch.stats import BatchStats
from jditem.client.many import ManyClient, ManyRun, RunOptions, get_many
from jditem.client.results import ItemResult
from jditem.protocol.codes import Code
from jditem.protocol.product import Product

if TYPE_CHECKING:
    from jditem.client.calls import CallInfo

__all__ = ["DEFAULT_MAX_AGE", "BatchRun", "ItemResult", "get_many"]

DEFAULT_MAX_AGE = 24 * 3600.0


class BatchRun(ManyRun):
    """One run of a batch job over a stream of item ids (journal and cache optional)."""

    stats: BatchStats

    def __init__(
        self,
        client: ManyClient,
        *,
        journal: Journal | None = None,
        cache: ResultCache | None = None,
        max_age: float = DEFAULT_MAX_AGE,
        refresh: bool = False,
        stats: BatchStats | None = None,
        **options: Unpack[RunOptions],
    ) -> None:
        super().__init__(client, stats=stats if stats is not None else BatchStats(), **options)
        self.journal = journal
        self.cache = cache
        self.max_age = max_age
        self.refresh = refresh
        if journal is not None:
            evidence = client.key_evidence
            if evidence.ttl is None:
                evidence.ttl = journal.honoured_keys(client.config.base_url)
            journal.durable_answers = not evidence.honoured

    def idempotency_key(self, item_id: str) -> str:
        """The ``Idempotency-Key`` of every call for ``item_id`` (the journal's, if any)."""
        if self.journal is not None:
            return self.journal.idempotency_key(item_id)
        return super().idempotency_key(item_id)

    def settle_crashed(self) -> int:
        """Settle the items an earlier run — or this one, abandoning its calls on the wire —
        left in flight (:meth:`Journal.settle_crashed`); returns how many are uncertain."""
        if self.journal is None:
            return 0
        return self.journal.settle_crashed(
            keys_ttl=self.client.key_evidence.ttl, base_url=self.client.config.base_url
        )

    # -- persistence hooks -------------------------------------------------------------

    def _lookup(self, item_id: str) -> ItemResult | None:
        if self.cache is None or self.refresh:
            return None
        hit = self.cache.get(item_id, max_age=self.max_age)
        if hit is None:
            return None
        return self._from_cache(item_id, hit.status, hit.product_json)

    async def _before_send(self, item_id: str) -> None:
        if self.journal is not None:
            await self.journal.mark_inflight_grouped(item_id)

    def _on_answer(self, item_id: str, info: CallInfo) -> None:
        journal = self.journal
        if journal is not None:
            journal.record_call(
                item_id,
                code=info.code,
                http_status=info.http_status,
                request_id=info.request_id,
                outcome=info.outcome,
                elapsed_s=info.elapsed_s,
            )
            if journal.durable_answers and self.client.key_evidence.ttl is not None:
                # the server just said it honours keys: group commit is safe from here on
                journal.durable_answers = False
                journal.remember_honoured_keys(
                    self.client.config.base_url, self.client.key_evidence.ttl
                )

    def _on_done(self, item_id: str, product: Product, calls: int) -> ItemResult:
        product_json = product.model_dump_json()
        if self.journal is not None:
            self.journal.mark_done(item_id, product_json, source="api")
        if self.cache is not None:
            self.cache.put(item_id, "ok", product_json)
        return ItemResult(item_id, product=product, calls=calls, product_json=product_json)

    def _on_failed(self, item_id: str, error: errors.JditemError) -> None:
        if self.journal is not None:
            self.journal.mark_failed(item_id, code=error.code, error=str(error))
        if isinstance(error, errors.ItemNotSupportedError) and self.cache is not None:
            self.cache.put(item_id, "not_supported")

    def _on_left_pending(self, item_id: str, error: errors.PendingTimeoutError) -> None:
        if self.journal is not None:
            self.journal.mark_pending(item_id, error=error.message)

    def _on_uncertain(self, item_id: str, error: errors.AmbiguousOutcomeError) -> None:
        if self.journal is not None:
            self.journal.mark_uncertain(item_id, error=str(error))

    def _settle_unfinished(self, item_id: str, calls: int) -> None:
        """An item the run stopped on: the next run asks again (re-attaching if pending)."""
        if self.journal is None:
            return
        if calls:
            self.journal.mark_pending(item_id)
        else:
            self.journal.mark_todo(item_id)

    def _from_cache(self, item_id: str, status: str, product_json: str | None) -> ItemResult:
        if status == "ok" and product_json is not None:
            product = Product.model_validate_json(product_json)
            if self.journal is not None:
                self.journal.mark_done(item_id, product_json, source="cache")
            self.stats.cached += 1
            return ItemResult(item_id, product=product, source="cache", product_json=product_json)
        error = errors.ItemNotSupportedError(
            f"item {item_id} is not supported (remembered by the local cache; "
            "use --refresh to ask again)",
            code=int(Code.NOT_SUPPORTED),
            item_id=item_id,
        )
        if self.journal is not None:
            self.journal.mark_failed(item_id, code=error.code, error=error.message)
        self.stats.failed += 1
        return ItemResult(item_id, error=error, source="cache")
