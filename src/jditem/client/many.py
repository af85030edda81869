"""Many items at once: :class:`ManyRun`, the engine behind ``get_many`` (the batch job
and the MCP adapter build on it). How it paces, stops and settles items is described in
``docs/architecture.md`` (client); why a run stops is :mod:`jditem.client.stops`.

Each item is fetched with the client's ``get``; its ``before_call`` hook (before every
HTTP call: first call, polls and retries alike) stops the call when the run is stopping,
takes one of ``concurrency`` wire slots and waits for the adaptive rate limiter
(:mod:`.ratecontrol`); ``on_call`` counts the answer and adapts the rate. Subclasses add
persistence through the ``_lookup`` / ``_before_send`` / ``_on_*`` / ``_settle_*`` hooks.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any, Protocol, TypedDict, Unpack

from jditem import errors
from jditem.client.calls import CallInfo, Outcome
from jditem.client.circuit import CircuitPause
from jditem.client.config import ClientConfig
from jditem.client.keys import KeyEvidence
from jditem.client.ratecontrol import AdaptiveRate
from jditem.client.results import ItemResult, RunHooks
from jditem.client.stats import RunStats
from jditem.client.stops import (
    SERVER_ERRORS,
    STOPPING_ERRORS,
    DeadServerWatch,
    circuit_outlasted,
    long_wait_reason,
    over_cap,
)
from jditem.client.workers import run_workers
from jditem.protocol.product import Product

DEFAULT_CONCURRENCY = 8
#: ``client.get`` rounds per item when its call budget went on 302s.
THROTTLE_ROUNDS = 5
#: Circuit 503s one item may meet outside a pause's probe before it fails with one (an
#: upstream that refuses uncached items while the gateway serves cached ones).
CIRCUIT_ROUNDS = 5
#: Items in progress per wire slot (the others wait between polls of pending tasks).
ITEMS_PER_SLOT = 4


class RunOptions(TypedDict, total=False):
    """How a :class:`ManyRun` paces and bounds its calls (every key optional)."""

    #: Calls on the wire at most (default :data:`DEFAULT_CONCURRENCY`).
    concurrency: int
    #: Call starts per second at most (``None``: unlimited until the server throttles).
    rate: float | None
    #: A rate limiter shared with other runs (then ``rate`` is ignored).
    limiter: AdaptiveRate | None
    #: HTTP calls of the run at most; reached, the run stops.
    max_calls: int | None
    #: Seconds per item (default: the client's deadline).
    deadline: float | None
    #: Called after every HTTP call of the run.
    on_call: Callable[[CallInfo], object] | None


class ManyClient(Protocol):
    """What the engine needs of a client: an :class:`~jditem.AsyncClient` is one."""

    @property
    def config(self) -> ClientConfig: ...

    @property
    def key_evidence(self) -> KeyEvidence: ...

    async def get(
        self,
        item_id: str,
        *,
        deadline: float | None = None,
        on_call: Callable[[CallInfo], object] | None = None,
        before_call: Callable[[str], Awaitable[None]] | None = None,
        idempotency_key: str | None = None,
    ) -> Product: ...


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


class ManyRun(RunHooks):
    """One run over a stream of item ids. Use from one event loop; iterate once."""

    def __init__(
        self, client: ManyClient, *, stats: RunStats | None = None, **options: Unpack[RunOptions]
    ) -> None:
        concurrency = options.get("concurrency", DEFAULT_CONCURRENCY)
        rate, limiter = options.get("rate"), options.get("limiter")
        deadline = options.get("deadline")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.client = client
        self.concurrency = concurrency
        self.workers = concurrency * ITEMS_PER_SLOT
        self._wire = asyncio.Semaphore(concurrency)
        self.limiter = limiter if limiter is not None else AdaptiveRate(rate)
        self.max_calls = options.get("max_calls")
        self.deadline = deadline
        self.stats = stats if stats is not None else RunStats()
        self._user_on_call = options.get("on_call")
        self.stop_reason: str | None = None
        self.fatal: errors.JditemError | None = None
        self.calls_started = 0
        self.calls_after_fatal = 0
        self.fatal_seen = False
        #: The run stopped because it made ``max_calls`` calls.
        self.budget_spent = False
        self.dead_server = DeadServerWatch()
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
        async for result in run_workers(ids, self.workers, self._one, lambda: self.stopping):
            yield result
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
            if self.stopping and not self.budget_spent:  # stopped while it waited
                self.calls_started -= 1
                raise StopRequested(self.stop_reason)

        def on_call(info: CallInfo) -> None:
            nonlocal calls, waiting, on_wire, probing
            if on_wire:
                on_wire = False
                wire.release()
            calls += 1
            stats.count(info)
            if self.fatal_seen:
                self.calls_after_fatal += 1
            outcome = info.outcome
            if outcome == Outcome.RATE_LIMITED:
                limiter.on_throttled(info.retry_after, sent_at=sent_at)
            elif info.code is not None:
                limiter.on_success()
            if outcome == Outcome.PENDING:
                if not waiting:
                    waiting = True
                    stats.pending += 1
            elif waiting:
                waiting = False
                stats.pending -= 1
            if self.dead_server.answered(info):
                self._stop_on_dead_server(info)
            self._on_answer(item_id, info)
            if outcome == Outcome.FATAL:
                self.fatal_seen = True
                self.request_stop(f"fatal answer (code {info.code})")
            if self._user_on_call is not None:
                self._user_on_call(info)
            was_probe, probing = probing, False
            if (
                not over_cap(info.error, self.client.config)  # that stops the run instead
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
            self._stop(exc, type(exc).__name__)
            self._settle_unfinished(item_id, calls)
            return None
        except errors.PendingTimeoutError as exc:
            stats.left_pending += 1
            self._on_left_pending(item_id, exc)
            return ItemResult(item_id, error=exc, calls=calls)
        except errors.AmbiguousOutcomeError as exc:
            return self._ambiguous(item_id, exc, calls)
        except errors.APIError as exc:
            if over_cap(exc, self.client.config):
                self._stop(exc, long_wait_reason(exc, self.client.config))
                self._settle_unfinished(item_id, calls)
                return None
            return self._failed(item_id, exc, calls)
        except SERVER_ERRORS as exc:
            if self.dead_server.dead:  # nothing is known about the item: leave it to do
                self._settle_unfinished(item_id, calls)
                stats.left_pending += 1
                return ItemResult(item_id, error=exc, calls=calls)
            if self.dead_server.streak:  # un-failed if the streak is a dead server
                self.dead_server.failed.append(item_id)
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

    def _stop(self, error: errors.JditemError, reason: str) -> None:
        """Stop the run; ``error`` is raised after the results in flight (the first wins)."""
        if self.fatal is None:
            self.fatal = error
        self.request_stop(reason)

    def _check_circuit(self) -> None:
        """Stop the run when the circuit pause has outlasted its bound (one deadline)."""
        circuit = self.circuit
        if self.stopping or not circuit.expired():
            return
        reason = f"the server's upstream stayed unavailable ({circuit.describe()})"
        self._stop(circuit_outlasted(circuit), reason)
        raise StopRequested(self.stop_reason)

    def _stop_on_dead_server(self, info: CallInfo) -> None:
        """Stop the run; the items failed in the streak so far are left to do instead."""
        assert info.error is not None
        watch = self.dead_server
        honoured = self.client.key_evidence.honoured
        self._stop(
            watch.error(info.error, self.client.config, honoured),
            f"{watch.streak} calls in a row failed ({info.outcome})",
        )
        for item_id in watch.failed:
            self.stats.failed -= 1
            self.stats.left_pending += 1
            self._settle_unfinished(item_id, 1)
        watch.failed.clear()

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
                if throttled >= THROTTLE_ROUNDS or over_cap(exc, self.client.config):
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
            self.budget_spent = self.stop_reason is None
            self.request_stop(f"max_calls={self.max_calls} reached")
            raise StopRequested(self.stop_reason)


def unique(ids: Iterable[str]) -> Iterator[str]:
    """``ids`` as strings, each once, in order."""
    seen: set[str] = set()
    for item_id in ids:
        item_id = str(item_id)
        if item_id not in seen:
            seen.add(item_id)
            yield item_id


async def get_many(
    client: ManyClient,
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
