"""The ``get`` flow: one item's calls, polls, retries, hooks and deadline, without I/O.

Modelled on httpx's ``auth_flow``: :meth:`GetFlow.steps` is a generator that yields
what to do next and receives the outcome; :class:`~jditem.client.Client` and
:class:`~jditem.client.AsyncClient` only drive it — they send, sleep and call the
caller's hooks, and so behave the same by construction::

    flow = GetFlow(base, item_id, deadline=..., idempotency_key=...)
    steps = flow.steps()
    step = next(steps)
    while True:
        match step:
            case Send():      reply = send(step)          # -> Classified
            case Sleep():     sleep(step.seconds); reply = None
            case BeforeCall(): before_call(step.item_id); reply = None
            case AfterCall():  on_call(step.info); reply = None
        step = steps.send(reply)                      # StopIteration(value=Product)

The flow raises the final typed error itself. Every decision is logged on the
``jditem.client`` logger (a child of ``jditem``): each call at DEBUG, and every wait
before a retry or a poll at INFO, as it happens — this is what ``jditem -v`` shows::

    item 100012043978: call 1 answered HTTP 503 code 301 (retryable_error); retrying
        in 1.3 s (backoff), call 2 of at most 6, 898 s left of the deadline
    item 100012043978: call 2 answered HTTP 200 code 102 (pending); polling task 01J…
        again in 5.0 s (Retry-After), call 3 of at most 6, 893 s left of the deadline

(one line each in the log).

"Endpoint is not serving data" (code 0 without product data) is decided in one
place, :meth:`GetFlow.not_serving`.
"""

from __future__ import annotations

import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from jditem import errors
from jditem.client.base import BaseClient
from jditem.client.calls import CallInfo, Classified, Outcome
from jditem.client.fallback import EndpointFallback
from jditem.client.keys import new_idempotency_key
from jditem.client.retry import Attempts, Refusal, parse_continuation
from jditem.protocol.ids import parse_item_ref
from jditem.protocol.product import Product

logger = logging.getLogger("jditem.client")


@dataclass(frozen=True, slots=True)
class Send:
    """Make one HTTP GET; reply with its :class:`Classified` outcome."""

    item_id: str
    url: str
    params: Mapping[str, str]
    headers: Mapping[str, str]
    timeout: httpx.Timeout


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait ``seconds`` before the next step; reply ``None``."""

    seconds: float


@dataclass(frozen=True, slots=True)
class BeforeCall:
    """Run the caller's ``before_call(item_id)`` hook, if any; reply ``None``."""

    item_id: str


@dataclass(frozen=True, slots=True)
class AfterCall:
    """Run the caller's ``on_call(info)`` hook, if any; reply ``None``."""

    info: CallInfo


Step = Send | Sleep | BeforeCall | AfterCall
Steps = Generator[Step, Classified | None, Product]


def normalize_item_id(item_id: object) -> str:
    """An item id from a bare id (str or int) or a JD item URL.

    ``"100012043978"``, ``100012043978`` and ``"https://item.jd.com/100012043978.html"``
    all give ``"100012043978"``. Any other text is sent as it is (the server answers
    400 for a malformed id), except a URL that is not a JD item page, which raises
    :class:`~jditem.errors.ConfigurationError` without a call.
    """
    if isinstance(item_id, bool) or not isinstance(item_id, str | int):
        raise errors.ConfigurationError(
            f"item_id must be a string of 1-20 ASCII digits or a JD item URL, got a "
            f"{type(item_id).__name__}: pass e.g. '100012043978'"
        )
    text = str(item_id)
    parsed = parse_item_ref(text)
    if parsed is not None:
        return parsed
    if "://" in text or "jd.com" in text.lower() or "jd.hk" in text.lower():
        shown = text if len(text) <= 80 else text[:80] + "…"
        raise errors.ConfigurationError(
            f"{shown!r} is not a JD item URL: pass the item page URL "
            "(https://item.jd.com/100012043978.html) or the bare id (100012043978)"
        )
    return text


def describe_call(info: CallInfo) -> str:
    """``call N answered HTTP s code c (outcome)`` — one call, token-free."""
    parts = [f"call {info.call_number} answered"]
    if info.http_status is not None:
        parts.append(f"HTTP {info.http_status}")
    if info.code is not None:
        parts.append(f"code {info.code}")
    parts.append(f"({info.outcome})")
    return " ".join(parts)


class GetFlow:
    """One ``get`` of one item, as a generator of :data:`Step` (see the module docstring).

    Every call of the flow carries ``idempotency_key``; with ``auto_key`` and no key
    given, a fresh one (:func:`new_idempotency_key`). An ambiguous outcome is resent only
    under that key and only once the server said it honours keys (``base.evidence``).
    """

    def __init__(
        self,
        base: BaseClient,
        item_id: object,
        *,
        deadline: float | None = None,
        idempotency_key: str | None = None,
        auto_key: bool = False,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.base = base
        self.item_id = normalize_item_id(item_id)
        if idempotency_key is None and auto_key:
            idempotency_key = new_idempotency_key(self.item_id)
        self.idempotency_key = (
            None if idempotency_key is None else base.check_idempotency_key(idempotency_key)
        )
        self.attempts = Attempts(
            base.config,
            self.item_id,
            deadline,
            clock=clock,
            rng=rng,
            resend_refusal=self.resend_refusal,
        )
        endpoints = base.config.endpoints
        #: The endpoint fallback (``endpoints=``), or None when it is off.
        self.fallback = EndpointFallback(endpoints) if endpoints else None
        self._bases: dict[str, BaseClient] = {base.config.endpoint: base}

    def current_base(self) -> BaseClient:
        """The core of the endpoint in use (the fallback may have moved on)."""
        if self.fallback is None:
            return self.base
        endpoint = self.fallback.current
        core = self._bases.get(endpoint)
        if core is None:
            core = BaseClient(
                self.base.config.replace(endpoint=endpoint, endpoints=()), self.base.evidence
            )
            self._bases[endpoint] = core
        return core

    @classmethod
    def resume(
        cls,
        base: BaseClient,
        continuation: str | errors.PendingTimeoutError,
        *,
        deadline: float | None = None,
        idempotency_key: str | None = None,
    ) -> GetFlow:
        """The flow that continues a ``get`` that ended in :class:`PendingTimeoutError`.

        The continuation must come from a client with the same base URL and endpoint;
        the server attaches the new calls to the same task, so nothing is submitted twice.
        Every call carries ``idempotency_key`` (default: a fresh one), as in ``get``.
        """
        data = parse_continuation(continuation)
        config = base.config
        if (data.get("baseUrl"), data.get("endpoint")) != (config.base_url, config.endpoint):
            raise errors.ConfigurationError(
                f"this continuation is for {data.get('baseUrl')} ({data.get('endpoint')}), "
                f"not {config.base_url} ({config.endpoint}): use "
                "client.with_options(base_url=..., endpoint=...) to match it"
            )
        return cls(
            base, data["itemId"], deadline=deadline, idempotency_key=idempotency_key, auto_key=True
        )

    def request(self) -> Send:
        """The next HTTP call, its timeout bounded by what is left of the deadline."""
        base = self.current_base()
        timeout = base.timeout(self.attempts.call_timeout())
        url, params, headers = base.request_parts(self.item_id, self.idempotency_key)
        return Send(self.item_id, url, params, headers, timeout)

    def steps(self) -> Steps:
        """Yield the steps of this ``get``; return the product or raise the final error."""
        attempts = self.attempts
        while True:
            attempts.call_timeout()  # the deadline may pass while before_call waits
            yield BeforeCall(self.item_id)
            classified = yield self.request()
            assert classified is not None, "reply to Send with the Classified outcome"
            info = attempts.record(classified)
            yield AfterCall(info)
            if classified.outcome is Outcome.READY:
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug("item %s: %s", self.item_id, describe_call(info))
                return self.base.product(classified, self.item_id)
            if classified.outcome is Outcome.NOT_SERVING_DATA and self.not_serving(classified):
                continue  # the fallback moved on: call the next endpoint at once
            try:
                wait = attempts.next_wait(classified)
            except errors.JditemError:
                logger.info("item %s: %s; giving up", self.item_id, describe_call(info))
                raise
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    "item %s: %s; %s",
                    self.item_id,
                    describe_call(info),
                    self.describe_wait(classified, wait),
                )
            if wait > 0:
                yield Sleep(wait)

    def not_serving(self, classified: Classified) -> bool:
        """The one decision point for "the endpoint answered code 0 without data".

        With the endpoint fallback on and an endpoint left, moves on to it and returns
        ``True``: the flow then calls again at once (the call counts against the budget and
        the deadline like any other). Else raises
        :class:`~jditem.errors.NotServingDataError` (not retried, not polled).
        """
        following = self.fallback.advance(classified) if self.fallback is not None else None
        if following is not None:
            assert self.fallback is not None
            left = self.fallback.switches[-1][0]
            logger.info(
                "item %s: the %s endpoint answered an instruction message instead of data; "
                "falling back to %s",
                self.item_id,
                left,
                following,
            )
            return True
        assert classified.error is not None
        raise classified.error

    def resend_refusal(self) -> Refusal | None:
        """Why an ambiguous outcome of this flow may not be resent, or ``None`` when it may:
        the call carries an ``Idempotency-Key`` and the server said it honours keys."""
        advice = "; ask again yourself if paying twice is acceptable"
        if self.idempotency_key is None:
            return Refusal(
                "it carried no Idempotency-Key, so a resend could be charged again", advice
            )
        if self.base.evidence.honoured:
            return None
        return Refusal(
            "the server has not said that it honours Idempotency-Key (the vendor ignores "
            "it), so a resend could be charged again",
            f"{advice} (a server that honours keys answers a charged call free under the "
            f"same key, idempotency_key={self.idempotency_key!r})",
        )

    def describe_wait(self, classified: Classified, wait: float) -> str:
        """``retrying in 1.3 s (backoff), call 2 of at most 6`` and the like."""
        pending = classified.outcome is Outcome.PENDING
        task = f" task {classified.task_id}" if pending and classified.task_id else ""
        verb = f"polling{task} again" if pending else "retrying"
        if classified.ambiguous:
            verb = "resending under the same Idempotency-Key (the server honours it)"
        why = "Retry-After" if classified.retry_after is not None else "backoff"
        max_calls = self.base.config.max_calls_per_item
        return (
            f"{verb} in {wait:.1f} s ({why}), call {self.attempts.calls + 1} of at most "
            f"{max_calls}, {self.attempts.remaining:.0f} s left of the deadline"
        )


def drive_sync(
    steps: Steps,
    send: Callable[[Send], Classified],
    sleep: Callable[[float], Any],
    before_call: Callable[[str], object] | None,
    on_call: Callable[[CallInfo], object] | None,
) -> Product:
    """Run ``steps`` with blocking I/O (the :class:`Client` twin's driver)."""
    reply: Classified | None = None
    try:
        step = next(steps)
        while True:
            reply = None
            if isinstance(step, Send):
                reply = send(step)
            elif isinstance(step, Sleep):
                sleep(step.seconds)
            elif isinstance(step, BeforeCall):
                if before_call is not None:
                    before_call(step.item_id)
            elif on_call is not None:
                on_call(step.info)
            step = steps.send(reply)
    except StopIteration as stop:
        product: Product = stop.value
        return product
    finally:
        steps.close()


async def drive_async(
    steps: Steps,
    send: Callable[[Send], Awaitable[Classified]],
    sleep: Callable[[float], Awaitable[Any]],
    before_call: Callable[[str], object] | None,
    on_call: Callable[[CallInfo], object] | None,
) -> Product:
    """Run ``steps`` on an event loop (the :class:`AsyncClient` twin's driver).

    A hook that returns an awaitable (a coroutine function) is awaited.
    """
    reply: Classified | None = None
    try:
        step = next(steps)
        while True:
            reply = None
            if isinstance(step, Send):
                reply = await send(step)
            elif isinstance(step, Sleep):
                await sleep(step.seconds)
            elif isinstance(step, BeforeCall):
                if before_call is not None:
                    result = before_call(step.item_id)
                    if inspect.isawaitable(result):
                        await result
            elif on_call is not None:
                result = on_call(step.info)
                if inspect.isawaitable(result):
                    await result
            step = steps.send(reply)
    except StopIteration as stop:
        product: Product = stop.value
        return product
    finally:
        steps.close()
