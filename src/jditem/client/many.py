"""Many items at once: the engine behind ``get_many`` (the batch job builds on it).

:class:`ManyRun` feeds item ids to ``concurrency * ITEMS_PER_SLOT`` workers; each
worker fetches one item with :meth:`AsyncClient.get`, whose ``before_call`` hook runs
before every HTTP call (first call, polls and retries alike) and

* stops the call when the run is stopping (fatal answer, dead server, a call budget,
  Ctrl-C),
* takes one of ``concurrency`` wire slots (released when the answer arrives), so an
  item waiting between polls of a pending task does not hold a slot,
* waits for a slot of the smooth adaptive rate limiter (:mod:`.ratecontrol`);

while ``on_call`` counts each answer and adapts the rate. The batch job's
:class:`~jditem.batch.engine.BatchRun` adds a journal and a local cache through the
``_lookup`` / ``_on_*`` / ``_settle_*`` hooks.

Every call for an item carries an ``Idempotency-Key`` (``jditem-<run uid>-0-<item id>``
here, stable within the run; the journal's in a batch job, stable across reruns). A
server that honours the header charges each key once; the vendor ignores it.
Results are yielded as they complete; memory stays bounded by two small queues.

Fatal answers (100, 303, 600, 601, 602, and an endpoint that serves no data or does
not exist) stop new calls at once: calls already on the wire finish — at most
``concurrency`` calls after the first fatal answer — and then the fatal error is
raised from the iteration, after every result that did arrive has been yielded.

A dead or wrong server stops the run too: when :data:`DEAD_SERVER_CALLS` calls in a
row are refused connections or answers that are not the contract (HTML from a
gateway, …), no further call is made, the items involved are settled as unfinished
(a batch job leaves them pending, not failed) and one error saying so is raised.

An *ambiguous* outcome (sent, no complete answer: SPEC §4) is resent by ``get`` only
under a key the server said it honours. An item whose call ended that way is settled
as *uncertain* — it may have been charged without an answer, and nothing asks for it
again automatically (a batch job's summary names it) — unless the server honours keys:
then it is left pending, and the next run asks again under the same key (free if it
was charged).

A 503 naming an open upstream circuit pauses the whole run and probes with one item
(:mod:`.circuit`). A ``Retry-After`` longer than ``max_retry_after`` (120 s) stops the
run, raising the error that carries the value; the items not settled are left to do.
"""

from __future__ import annotations

import asyncio
import queue
import secrets
import threading
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

import httpx

from jditem import errors
from jditem.client.circuit import CircuitPause
from jditem.client.ratecontrol import AdaptiveRate
from jditem.client.stats import RunStats
from jditem.protocol.codes import Code
from jditem.protocol.product import Product

if TYPE_CHECKING:
    from jditem.client.async_ import AsyncClient
    from jditem.client.calls import CallInfo
    from jditem.client.config import ClientConfig

#: Errors after which no call with the same token and server can succeed.
STOPPING_ERRORS: tuple[type[errors.JditemError], ...] = (
    errors.FatalError,
    errors.NotServingDataError,
    errors.EndpointNotFoundError,
)
#: Errors that say nothing about the item, only that the server did not answer sanely.
SERVER_ERRORS: tuple[type[errors.JditemError], ...] = (
    errors.ProtocolError,
    errors.ConnectError,
    errors.ConnectionLostError,
)
#: Call outcomes counted towards a dead server (refused connections, non-contract bodies).
DEAD_SERVER_OUTCOMES = frozenset({"protocol_error", "transport_error"})
#: Calls in a row with a dead-server outcome that stop the run.
DEAD_SERVER_CALLS = 5

DEFAULT_CONCURRENCY = 8
#: ``client.get`` rounds per item when its call budget went on 302s.
THROTTLE_ROUNDS = 5
#: Circuit 503s one item may meet outside a pause's probe before it fails with one (an
#: upstream that refuses uncached items while the gateway serves cached ones).
CIRCUIT_ROUNDS = 5
#: Items in progress per wire slot (the others wait between polls of pending tasks).
ITEMS_PER_SLOT = 4

_SUCCESS = int(Code.SUCCESS)


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


class _CircuitWait(Exception):
    """Raised inside ``get``'s hooks while the run is paused behind an open circuit: the
    item leaves ``get`` and waits its turn outside it, so the pause does not count
    against the item's deadline. ``error``: the circuit 503 this item met, if any."""

    def __init__(self, error: errors.JditemError | None = None, *, probe: bool = False) -> None:
        super().__init__("paused behind an open upstream circuit")
        self.error = error
        self.probe = probe


class ManyRun:
    """One run over a stream of item ids. Use from one event loop; iterate once."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        rate: float | None = None,
        limiter: AdaptiveRate | None = None,
        max_calls: int | None = None,
        deadline: float | None = None,
        stats: RunStats | None = None,
        on_call: Callable[[CallInfo], object] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.client = client
        self.concurrency = concurrency
        self.workers = concurrency * ITEMS_PER_SLOT
        self._wire = asyncio.Semaphore(concurrency)
        self.limiter = limiter if limiter is not None else AdaptiveRate(rate)
        self.max_calls = max_calls
        self.deadline = deadline
        self.stats = stats if stats is not None else RunStats()
        self._user_on_call = on_call
        self.stop_reason: str | None = None
        self.fatal: errors.JditemError | None = None
        self.calls_started = 0
        self.calls_after_fatal = 0
        self.fatal_seen = False
        self.bad_streak = 0
        self._budget_spent = False
        self.dead_server = False
        self._streak_failed: list[str] = []
        self.run_uid = secrets.token_hex(8)
        #: The pause while the server's upstream circuit is open (:mod:`.circuit`).
        self.circuit = CircuitPause(
            max_pause=deadline if deadline is not None else client.config.deadline
        )

    def idempotency_key(self, item_id: str) -> str:
        """The ``Idempotency-Key`` of every call for ``item_id`` in this run."""
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
            self.circuit.wake()

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
        hit = self._lookup(item_id)
        if hit is not None:
            return hit

        calls = 0
        sent_at = 0.0
        waiting = False
        on_wire = False
        probing = False
        wire = self._wire
        limiter = self.limiter
        circuit = self.circuit

        async def wait_turn() -> None:
            nonlocal probing
            probing = await circuit.wait_turn(lambda: self.stopping)
            self._check_circuit()
            self._check_budget()

        async def before_call(_: str) -> None:
            nonlocal sent_at, on_wire
            self._check_budget()
            if circuit.paused and not probing:
                raise _CircuitWait
            await wire.acquire()
            on_wire = True
            if circuit.paused and not probing:  # opened while this call waited for a slot
                on_wire = False
                wire.release()
                raise _CircuitWait
            sent_at = await limiter.acquire()
            self._check_budget()
            self.calls_started += 1
            await self._before_send(item_id)
            if self.stopping and not self._budget_spent:  # stopped while it waited
                self.calls_started -= 1
                raise StopRequested(self.stop_reason)

        def on_call(info: CallInfo) -> None:
            nonlocal calls, waiting, on_wire, probing
            if on_wire:
                on_wire = False
                wire.release()
            calls += 1
            stats.calls += 1
            code = info.code
            outcome = info.outcome
            stats.by_code[str(code) if code is not None else outcome] += 1
            if self.fatal_seen:
                self.calls_after_fatal += 1
            if code == _SUCCESS and outcome == "ready":
                if info.replayed:
                    stats.replayed_calls += 1
                else:
                    stats.charged_calls += 1
            if outcome == "rate_limited":
                stats.throttled += 1
                limiter.on_throttled(info.retry_after, sent_at=sent_at)
            elif code is not None:
                limiter.on_success()
            if outcome == "pending":
                if not waiting:
                    waiting = True
                    stats.pending += 1
            elif waiting:
                waiting = False
                stats.pending -= 1
            if outcome in DEAD_SERVER_OUTCOMES:
                self.bad_streak += 1
                if self.bad_streak >= DEAD_SERVER_CALLS and not self.dead_server:
                    self._stop_on_dead_server(info)
            elif code is not None and self.bad_streak:
                self.bad_streak = 0
                self._streak_failed.clear()
            self._on_answer(item_id, info)
            if outcome == "fatal":
                self.fatal_seen = True
                self.request_stop(f"fatal answer (code {code})")
            if self._user_on_call is not None:
                self._user_on_call(info)
            was_probe, probing = probing, False
            if (
                not self._over_cap(info.error)  # that stops the run instead
                and circuit.answered(info.error, info.retry_after, probe=was_probe)
                and not self.stopping
            ):
                assert info.error is not None
                raise _CircuitWait(info.error, probe=was_probe)

        try:
            product = await self._get_through_throttling(item_id, on_call, before_call, wait_turn)
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
            self._on_left_pending(item_id, exc)
            return ItemResult(item_id, error=exc, calls=calls)
        except errors.AmbiguousOutcomeError as exc:
            return self._ambiguous(item_id, exc, calls)
        except errors.APIError as exc:
            if self._over_cap(exc):
                self._stop_on_long_wait(exc)
                self._settle_unfinished(item_id, calls)
                return None
            return self._failed(item_id, exc, calls)
        except SERVER_ERRORS as exc:
            if self.dead_server:  # nothing is known about the item: leave it to do
                self._settle_unfinished(item_id, calls)
                stats.left_pending += 1
                return ItemResult(item_id, error=exc, calls=calls)
            if self.bad_streak:  # un-failed if the streak turns out to be a dead server
                self._streak_failed.append(item_id)
            return self._failed(item_id, exc, calls)
        except errors.JditemError as exc:
            return self._failed(item_id, exc, calls)
        finally:
            if waiting:
                stats.pending -= 1
            if on_wire:
                wire.release()
            if probing:  # the probe's call was never made
                circuit.probe_abandoned()
        stats.done += 1
        return self._on_done(item_id, product, calls)

    def _failed(self, item_id: str, exc: errors.JditemError, calls: int) -> ItemResult:
        self.stats.failed += 1
        self._on_failed(item_id, exc)
        return ItemResult(item_id, error=exc, calls=calls)

    def _ambiguous(self, item_id: str, exc: errors.AmbiguousOutcomeError, calls: int) -> ItemResult:
        """Settle an item whose last call was sent but got no complete answer."""
        if self.client.key_evidence.honoured:  # the next run asks again under the key
            self.stats.left_pending += 1
            self._settle_unfinished(item_id, calls)
        else:
            self.stats.uncertain += 1
            self._on_uncertain(item_id, exc)
        return ItemResult(item_id, error=exc, calls=calls)

    def _over_cap(self, error: errors.JditemError | None) -> bool:
        """Whether ``error`` carries a ``Retry-After`` longer than ``max_retry_after``."""
        retry_after = getattr(error, "retry_after", None)
        return retry_after is not None and retry_after > self.client.config.max_retry_after

    def _stop_on_long_wait(self, error: errors.APIError) -> None:
        """A wait longer than the cap was asked for: stop the run with that error."""
        if self.fatal is None:
            self.fatal = error
        self.request_stop(
            f"the server asked to wait {error.retry_after:g} s (Retry-After), more than "
            f"max_retry_after={self.client.config.max_retry_after:g} s"
        )

    def _check_circuit(self) -> None:
        """Stop the run when the circuit pause has outlasted its bound (one deadline)."""
        circuit = self.circuit
        if self.stopping or not circuit.expired():
            return
        last = circuit.last
        error = errors.ServiceUnavailableError(
            f"the server's upstream stayed unavailable for {circuit.max_pause:g} s "
            f"({circuit.describe()}; {circuit.probes} probe(s) with one item while the run "
            "was paused); the items not fetched are left to do: run again later, or ask "
            "the gateway's operator about the upstream",
            code=last.code if last is not None else None,
            http_status=last.http_status if last is not None else None,
            request_id=last.request_id if last is not None else None,
            circuit=last.circuit if last is not None else "open",
            upstream_code=last.upstream_code if last is not None else None,
        )
        if self.fatal is None:
            self.fatal = error
        self.request_stop(f"the server's upstream stayed unavailable ({circuit.describe()})")
        raise StopRequested(self.stop_reason)

    def _stop_on_dead_server(self, info: CallInfo) -> None:
        """Stop the run; the items failed in the streak so far are left to do instead."""
        assert info.error is not None
        self.dead_server = True
        if self.fatal is None:
            self.fatal = self._dead_server_error(info.error)
        self.request_stop(f"{self.bad_streak} calls in a row failed ({info.outcome})")
        for item_id in self._streak_failed:
            self.stats.failed -= 1
            self.stats.left_pending += 1
            self._settle_unfinished(item_id, 1)
        self._streak_failed.clear()

    def _dead_server_error(self, last: errors.JditemError) -> errors.JditemError:
        config = self.client.config
        what = (
            "answers that are not the API's JSON (HTML from a gateway or proxy?)"
            if isinstance(last, errors.ProtocolError)
            else "connection failures"
        )
        uncertain = (
            " (those whose request was sent without a complete answer may have been "
            "charged: they are marked so, not asked again automatically)"
            if isinstance(last, errors.AmbiguousOutcomeError)
            and not self.client.key_evidence.honoured
            else ""
        )
        error = type(last)(
            f"stopped after {self.bad_streak} calls in a row got {what} from "
            f"{config.base_url} ({config.endpoint}); the last one: {last.message} — the "
            f"items concerned are left to do, not failed{uncertain}: check the base URL "
            "and that the server is up, then run again",
            http_status=last.http_status,
            item_id=last.item_id,
        )
        error.__cause__ = last
        return error

    async def _get_through_throttling(
        self,
        item_id: str,
        on_call: Callable[[CallInfo], None],
        before_call: Any,
        wait_turn: Callable[[], Awaitable[None]],
    ) -> Product:
        """``client.get``, asked again when its call budget went on 302s (they are free),
        and after the run's circuit pause (``wait_turn``; not part of any ``get``, so it
        does not count against the item's deadline).

        The rate limiter has slowed down by then; an item is never lost to throttling
        unless it is throttled for ``THROTTLE_ROUNDS`` whole call budgets, nor to an open
        circuit unless it met one ``CIRCUIT_ROUNDS`` times outside a probe.
        """
        key = self.idempotency_key(item_id)
        throttled = circuits = 0
        while True:
            try:
                return await self.client.get(
                    item_id,
                    deadline=self.deadline,
                    on_call=on_call,
                    before_call=before_call,
                    idempotency_key=key,
                )
            except errors.RateLimitError as exc:
                throttled += 1
                if throttled >= THROTTLE_ROUNDS or self._over_cap(exc):
                    raise
            except _CircuitWait as wait:
                if wait.error is not None and not wait.probe:  # a probe's is bounded by the pause
                    circuits += 1
                    if circuits >= CIRCUIT_ROUNDS:
                        raise wait.error from None
                await wait_turn()

    def _check_budget(self) -> None:
        if self.stop_reason is not None:
            raise StopRequested(self.stop_reason)
        if self.max_calls is not None and self.calls_started >= self.max_calls:
            self._budget_spent = self.stop_reason is None
            self.request_stop(f"--max-calls {self.max_calls} reached")
            raise StopRequested(self.stop_reason)

    # -- hooks for persistence (the batch job's journal and cache) ------------------------

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


def unique(ids: Iterable[str]) -> Iterator[str]:
    """``ids`` as strings, each once, in order."""
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
    run = ManyRun(client, concurrency=concurrency, rate=rate, deadline=deadline, on_call=on_call)
    async for result in run.results(unique(ids)):
        yield result


class _ThreadedTransport(httpx.AsyncBaseTransport):
    """Sends each request through the caller's own blocking :class:`httpx.Client`.

    Used by the sync ``get_many``: the run's event loop lives in a helper thread and
    hands every call to a worker thread, so the caller's transport, proxies,
    certificates, event hooks and connection pool are the ones used.
    """

    def __init__(self, client: httpx.Client, executor: ThreadPoolExecutor) -> None:
        self._client = client
        self._executor = executor

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        def send() -> httpx.Response:
            sync_request = self._client.build_request(
                request.method,
                request.url,
                headers=request.headers,
                extensions=request.extensions,
            )
            response = self._client.send(sync_request)
            response.read()
            return response

        response = await asyncio.get_running_loop().run_in_executor(self._executor, send)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=response.content,
            request=request,
            extensions={"http_version": response.extensions.get("http_version", b"HTTP/1.1")},
        )


def get_many_sync(
    config: ClientConfig,
    ids: Iterable[str],
    *,
    http_client: httpx.Client | None = None,
    **options: Any,
) -> Iterator[ItemResult]:
    """The blocking twin: runs :func:`get_many` on an event loop in a helper thread.

    With ``http_client`` every call goes through it (see :class:`_ThreadedTransport`).
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
        own_http = None
        if http_client is not None:
            # One thread per wire slot: the default executor has only cpu + 4 threads.
            workers = int(options.get("concurrency", DEFAULT_CONCURRENCY))
            executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jditem-http")
            state["executor"] = executor
            own_http = httpx.AsyncClient(
                transport=_ThreadedTransport(http_client, executor), follow_redirects=False
            )
        try:
            async with AsyncClient(http_client=own_http, **options_) as client:
                try:
                    async for result in get_many(client, ids, **options):
                        # Off the loop thread: calls on the wire go on while the caller is busy.
                        if not await asyncio.to_thread(put, "item", result):
                            return
                except errors.JditemError as exc:
                    put("error", exc)
                    return
        finally:
            if own_http is not None:
                await own_http.aclose()
                state["executor"].shutdown(wait=False, cancel_futures=True)
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
