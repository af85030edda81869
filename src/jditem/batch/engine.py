"""The batch engine behind ``get_many`` and ``jditem batch``.

:class:`BatchRun` feeds item ids to ``concurrency * ITEMS_PER_SLOT`` workers; each
worker fetches one item with :meth:`AsyncClient.get`, whose ``before_call`` hook runs
before every HTTP call (first call, polls and retries alike) and

* stops the call when the run is stopping (fatal answer, ``--max-calls``, Ctrl-C),
* takes one of ``concurrency`` wire slots (released when the answer arrives), so an
  item waiting between polls of a pending task does not hold a slot,
* waits for a slot of the smooth adaptive rate limiter (:mod:`.ratecontrol`),
* commits "in flight" to the journal, when there is one;

while ``on_call`` records each answer (journal, counters) and adapts the rate.

Every call for an item carries an ``Idempotency-Key``: the journal's
(:meth:`Journal.idempotency_key`, stable across reruns of the job) or, without a
journal, ``jditem-<run uid>-0-<item id>`` (stable within the run). A server that
honours the header charges each key once; the vendor ignores it.
Results are yielded as they complete; memory stays bounded by two small queues.

Fatal answers (100, 303, 600, 601, 602, and an endpoint that serves no data or does
not exist) stop new calls at once: calls already on the wire finish — at most
``concurrency`` calls after the first fatal answer — and then the fatal error is
raised from the iteration, after every result that did arrive has been yielded.
"""

from __future__ import annotations

import asyncio
import queue
import secrets
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

from jditem import errors
from jditem.batch.cache import ResultCache
from jditem.batch.journal import Journal
from jditem.batch.ratecontrol import AdaptiveRate
from jditem.batch.stats import BatchStats
from jditem.protocol.codes import Code
from jditem.protocol.product import Product

if TYPE_CHECKING:
    from jditem.client.async_ import AsyncClient
    from jditem.client.base import CallInfo
    from jditem.client.config import ClientConfig

#: Errors after which no call with the same token and server can succeed.
STOPPING_ERRORS: tuple[type[errors.JditemError], ...] = (
    errors.FatalError,
    errors.NotServingDataError,
    errors.EndpointNotFoundError,
)

DEFAULT_CONCURRENCY = 8
#: ``client.get`` rounds per item when its call budget went on 302s.
THROTTLE_ROUNDS = 5
#: Items in progress per wire slot (the others wait between polls of pending tasks).
ITEMS_PER_SLOT = 4
DEFAULT_MAX_AGE = 24 * 3600.0


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


class StopRequested(Exception):
    """Raised inside ``before_call``: the run is stopping, make no further call."""


class BatchRun:
    """One run over a stream of item ids. Use from one event loop; iterate once."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        rate: float | None = None,
        limiter: AdaptiveRate | None = None,
        journal: Journal | None = None,
        cache: ResultCache | None = None,
        max_age: float = DEFAULT_MAX_AGE,
        refresh: bool = False,
        max_calls: int | None = None,
        deadline: float | None = None,
        stats: BatchStats | None = None,
        on_call: Callable[[CallInfo], object] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.client = client
        self.concurrency = concurrency
        self.workers = concurrency * ITEMS_PER_SLOT
        self._wire = asyncio.Semaphore(concurrency)
        self.limiter = limiter if limiter is not None else AdaptiveRate(rate)
        self.journal = journal
        self.cache = cache
        self.max_age = max_age
        self.refresh = refresh
        self.max_calls = max_calls
        self.deadline = deadline
        self.stats = stats if stats is not None else BatchStats()
        self._user_on_call = on_call
        self.stop_reason: str | None = None
        self.fatal: errors.JditemError | None = None
        self.calls_started = 0
        self.calls_after_fatal = 0
        self.fatal_seen = False
        self.run_uid = secrets.token_hex(8)

    def idempotency_key(self, item_id: str) -> str:
        """The ``Idempotency-Key`` of every call for ``item_id`` in this run."""
        if self.journal is not None:
            return self.journal.idempotency_key(item_id)
        return f"jditem-{self.run_uid}-0-{item_id}"

    # -- control -----------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """True once a stop was requested: no new call will be made."""
        return self.stop_reason is not None

    def request_stop(self, reason: str) -> None:
        """Make no further call (the first reason wins); calls on the wire finish."""
        if self.stop_reason is None:
            self.stop_reason = reason

    # -- iteration ---------------------------------------------------------------------

    async def results(self, ids: Iterable[str] | AsyncIterable[str]) -> AsyncIterator[ItemResult]:
        """Fetch ``ids``; yield each result as it completes; raise the fatal error last."""
        inbox: asyncio.Queue[str | None] = asyncio.Queue(maxsize=self.workers)
        outbox: asyncio.Queue[ItemResult | None] = asyncio.Queue(maxsize=self.workers)

        async def produce() -> None:
            if isinstance(ids, AsyncIterable):
                async for item_id in ids:
                    if self.stopping:
                        break
                    await inbox.put(item_id)
            else:
                for item_id in ids:
                    if self.stopping:
                        break
                    await inbox.put(item_id)
            # Not in a ``finally``: when cancelled, the workers are cancelled too, and a
            # blocking put into a full queue would never return.
            for _ in range(self.workers):
                await inbox.put(None)

        async def work() -> None:
            while (item_id := await inbox.get()) is not None:
                if self.stopping:
                    continue
                result = await self._one(item_id)
                if result is not None:
                    await outbox.put(result)

        async def supervise() -> None:
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(produce())
                    for _ in range(self.workers):
                        group.create_task(work())
            finally:
                await outbox.put(None)

        supervisor = asyncio.create_task(supervise())
        try:
            while (result := await outbox.get()) is not None:
                yield result
            await supervisor
        finally:
            if not supervisor.done():
                supervisor.cancel()
                await asyncio.gather(supervisor, return_exceptions=True)
        if self.fatal is not None:
            raise self.fatal

    # -- one item ----------------------------------------------------------------------

    async def _one(self, item_id: str) -> ItemResult | None:
        stats = self.stats
        if self.cache is not None and not self.refresh:
            hit = self.cache.get(item_id, max_age=self.max_age)
            if hit is not None:
                return self._from_cache(item_id, hit.status, hit.product_json)

        calls = 0
        sent_at = 0.0
        waiting = False
        on_wire = False

        async def before_call(_: str) -> None:
            nonlocal sent_at, on_wire
            self._check_budget()
            await self._wire.acquire()
            on_wire = True
            slot = await self.limiter.acquire()
            self._check_budget()
            self.calls_started += 1
            sent_at = slot
            if self.journal is not None:
                self.journal.mark_inflight(item_id)

        def on_call(info: CallInfo) -> None:
            nonlocal calls, waiting, on_wire
            if on_wire:
                on_wire = False
                self._wire.release()
            calls += 1
            stats.calls += 1
            stats.by_code[str(info.code) if info.code is not None else info.outcome] += 1
            if self.fatal_seen:
                self.calls_after_fatal += 1
            if info.code == Code.SUCCESS and info.outcome == "ready":
                stats.charged_calls += 1
            if info.outcome == "rate_limited":
                stats.throttled += 1
                self.limiter.on_throttled(info.retry_after, sent_at=sent_at)
            elif info.code is not None:
                self.limiter.on_success()
            if info.outcome == "pending" and not waiting:
                waiting = True
                stats.pending += 1
            elif info.outcome != "pending" and waiting:
                waiting = False
                stats.pending -= 1
            if self.journal is not None:
                self.journal.record_call(
                    item_id,
                    code=info.code,
                    http_status=info.http_status,
                    request_id=info.request_id,
                    outcome=info.outcome,
                    elapsed_s=info.elapsed_s,
                )
            if info.outcome == "fatal":
                self.fatal_seen = True
                self.request_stop(f"fatal answer (code {info.code})")
            if self._user_on_call is not None:
                self._user_on_call(info)

        try:
            product = await self._get_through_throttling(item_id, on_call, before_call)
        except StopRequested:
            self._settle_unfinished(item_id, calls)
            return None
        except STOPPING_ERRORS as exc:
            if self.fatal is None:
                self.fatal = exc
            self.request_stop(type(exc).__name__)
            self._settle_unfinished(item_id, calls)
            return None
        except errors.PendingTimeoutError as exc:
            stats.left_pending += 1
            if self.journal is not None:
                self.journal.mark_pending(item_id, error=exc.message)
            return ItemResult(item_id, error=exc, calls=calls)
        except errors.JditemError as exc:
            stats.failed += 1
            if self.journal is not None:
                self.journal.mark_failed(item_id, code=exc.code, error=str(exc))
            if isinstance(exc, errors.ItemNotSupportedError) and self.cache is not None:
                self.cache.put(item_id, "not_supported")
            return ItemResult(item_id, error=exc, calls=calls)
        finally:
            if waiting:
                stats.pending -= 1
            if on_wire:
                self._wire.release()
        product_json = product.model_dump_json()
        if self.journal is not None:
            self.journal.mark_done(item_id, product_json, source="api")
        if self.cache is not None:
            self.cache.put(item_id, "ok", product_json)
        stats.done += 1
        return ItemResult(item_id, product=product, calls=calls, product_json=product_json)

    async def _get_through_throttling(
        self, item_id: str, on_call: Callable[[CallInfo], None], before_call: Any
    ) -> Product:
        """``client.get``, asked again when its call budget went on 302s (they are free).

        The rate limiter has slowed down by then; an item is never lost to throttling
        unless it is throttled for ``THROTTLE_ROUNDS`` whole call budgets.
        """
        key = self.idempotency_key(item_id)
        for round_ in range(THROTTLE_ROUNDS):
            try:
                return await self.client.get(
                    item_id,
                    deadline=self.deadline,
                    on_call=on_call,
                    before_call=before_call,
                    idempotency_key=key,
                )
            except errors.RateLimitError:
                if round_ == THROTTLE_ROUNDS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_budget(self) -> None:
        if self.stopping:
            raise StopRequested(self.stop_reason)
        if self.max_calls is not None and self.calls_started >= self.max_calls:
            self.request_stop(f"--max-calls {self.max_calls} reached")
            raise StopRequested(self.stop_reason)

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


def _unique(ids: Iterable[str]) -> Iterator[str]:
    seen: set[str] = set()
    for item_id in ids:
        item_id = str(item_id)
        if item_id not in seen:
            seen.add(item_id)
            yield item_id


async def get_many(
    client: AsyncClient,
    ids: Iterable[str],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    rate: float | None = None,
    deadline: float | None = None,
    on_call: Callable[[CallInfo], object] | None = None,
) -> AsyncIterator[ItemResult]:
    """Yield an :class:`ItemResult` per unique id as it completes (see ``AsyncClient``)."""
    run = BatchRun(client, concurrency=concurrency, rate=rate, deadline=deadline, on_call=on_call)
    async for result in run.results(_unique(ids)):
        yield result


def get_many_sync(
    config: ClientConfig,
    ids: Iterable[str],
    **options: Any,
) -> Iterator[ItemResult]:
    """The blocking twin: runs :func:`get_many` on an event loop in a helper thread.

    Results cross over through a small bounded queue; closing the iterator early
    cancels the run (calls on the wire are abandoned, none is started afterwards).
    """
    from jditem.client.async_ import AsyncClient

    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max(2, 2 * DEFAULT_CONCURRENCY))
    closing = threading.Event()
    state: dict[str, Any] = {}

    def put(kind: str, value: Any) -> bool:
        while not closing.is_set():
            try:
                handoff.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    async def main() -> None:
        state["loop"] = asyncio.get_running_loop()
        state["task"] = asyncio.current_task()
        options_ = {f.name: getattr(config, f.name) for f in fields(config)}
        async with AsyncClient(**options_) as client:
            try:
                async for result in get_many(client, ids, **options):
                    # Off the loop thread, so calls on the wire go on while the caller is busy.
                    if not await asyncio.to_thread(put, "item", result):
                        return
            except errors.JditemError as exc:
                put("error", exc)
                return
        put("done", None)

    def runner() -> None:
        try:
            asyncio.run(main())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # surfaced to the consumer thread
            put("error", exc)

    thread = threading.Thread(target=runner, name="jditem-get-many", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        closing.set()
        loop, task = state.get("loop"), state.get("task")
        if loop is not None and task is not None and not task.done():
            loop.call_soon_threadsafe(task.cancel)
        thread.join(timeout=10)
