"""One ``jditem mcp`` process's state, and the two fetches its tools make.

:class:`McpSession` holds the client library's :class:`~jditem.AsyncClient` (the token is
inside it; nothing here ever sees or returns it), the spending limit
(:class:`~jditem.mcp.budget.SpendBudget`), the session-wide adaptive rate limiter and the
products fetched so far. :meth:`McpSession.fetch_one` (``client.get`` / ``client.resume``)
and :meth:`McpSession.fetch_many` (the client's ``get_many`` engine, :class:`ManyRun`)
reserve the worst case before the first call and settle with what the answers said.

What a fetch cost is read from the calls themselves (:class:`CallTally`, fed with the
client's :class:`~jditem.client.calls.CallInfo`): the server does not send its price, so
each answer with data counts as one charge at the configured price. Every call of one
fetch carries the same ``Idempotency-Key``, so a jditem server charges a fetch at most
once — a free replay (``Idempotent-Replayed``) means an earlier call of the same fetch was
the charged one. A call that was sent but got no complete answer (lost connection, read
timeout, a body that is not the API's) may have been charged: it counts as *uncertain*,
against the limit like a charge. The key of a fetch that ended without a product is kept
and reused by the next fetch of that item, so on a jditem server asking again after such
an answer is free when the lost call was charged.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Unpack, cast

from jditem import errors
from jditem.client import AsyncClient
from jditem.client.calls import CallInfo
from jditem.client.many import ManyRun, RunOptions
from jditem.client.ratecontrol import AdaptiveRate
from jditem.client.results import ItemResult
from jditem.client.retry import parse_continuation
from jditem.mcp.budget import SpendBudget
from jditem.protocol.ids import parse_item_ref
from jditem.protocol.product import Product

#: Most items one ``get_products`` call may ask for.
MAX_ITEMS_PER_CALL = 50
#: Products remembered for reuse and for ``jditem://item/{id}`` (oldest forgotten first).
MAX_REMEMBERED = 1000


@dataclass(frozen=True)
class McpSettings:
    """How one ``jditem mcp`` process spends (money in units of 0.0001 yuan)."""

    #: The price of one charged call (the server does not say it).
    price_units: int = 100
    #: What the whole session may spend.
    max_spend_units: int = 10_000
    #: Seconds one tool call waits for its items at most.
    tool_deadline: float = 45.0
    #: Calls on the wire at once in ``get_products``.
    concurrency: int = 4
    #: Call starts per second at most (``None``: unlimited until the server throttles).
    rate: float | None = None
    #: The most daily budget ``watch_add`` may give a watch list.
    max_list_budget_units: int = 10_000


@dataclass
class CallTally:
    """What the calls of one item's fetch amounted to."""

    calls: int = 0
    #: An answer with data arrived (this fetch was charged once).
    ready: bool = False
    #: That answer was a free replay of the fetch's own earlier, charged call.
    replayed: bool = False
    #: A call was sent and no complete answer came back: it may have been charged.
    unanswered: bool = False
    #: A call is on the wire right now.
    in_flight: bool = False
    request_id: str | None = None

    def before(self) -> None:
        """A call is about to be sent."""
        self.in_flight = True

    def after(self, info: CallInfo) -> None:
        """A call was answered (or failed)."""
        self.in_flight = False
        self.calls += 1
        self.request_id = info.request_id or self.request_id
        if info.code == 0 and info.outcome == "ready":
            self.ready = True
            self.replayed = info.replayed
        elif info.possibly_charged:
            self.unanswered = True

    @property
    def charged(self) -> int:
        """Charged calls of this fetch (0 or 1)."""
        return int(self.ready)

    @property
    def uncertain(self) -> int:
        """Calls of this fetch that may have been charged (0 or 1; none once one was)."""
        return int(not self.ready and (self.unanswered or self.in_flight))


Status = Literal["ok", "pending", "error", "not_fetched"]


@dataclass
class ItemOutcome:
    """How one item ended in one tool call."""

    item_id: str
    status: Status
    product: dict[str, Any] | None = None
    error: errors.JditemError | None = None
    #: ``api``: fetched by this call; ``session``: reused from earlier in the session (free).
    source: Literal["api", "session"] = "api"
    tally: CallTally = field(default_factory=CallTally)
    fetched_at: datetime | None = None


@dataclass(frozen=True)
class Remembered:
    """A product this session fetched (normalized, without ``raw``)."""

    product: dict[str, Any]
    fetched_at: datetime
    monotonic: float


def product_json(product: Product) -> dict[str, Any]:
    """The normalized product as JSON values, without the bulky ``raw`` payload."""
    return product.model_dump(mode="json", exclude={"raw"})


def item_id_of(ref: str) -> str:
    """An item id from an id or a JD item URL; :class:`ConfigurationError` otherwise."""
    item_id = parse_item_ref(ref) if isinstance(ref, str) else None
    if item_id is None:
        shown = ref if len(ref) <= 80 else ref[:80] + "…"
        raise errors.ConfigurationError(
            f"{shown!r} is neither a JD item id (1-20 digits) nor a JD item URL: pass e.g. "
            "100012043978 or https://item.jd.com/100012043978.html"
        )
    return item_id


class _ToolRun(ManyRun):
    """``get_many``'s engine, telling each item's :class:`CallTally` about its calls and
    sending the session's ``Idempotency-Key`` for each item."""

    def __init__(
        self,
        client: AsyncClient,
        tallies: dict[str, CallTally],
        keys: Callable[[str], str],
        **options: Unpack[RunOptions],
    ) -> None:
        super().__init__(client, **options)
        self.tallies = tallies
        self._keys = keys

    def idempotency_key(self, item_id: str) -> str:
        return self._keys(item_id)

    async def _before_send(self, item_id: str) -> None:
        if not self.stopping:  # else the engine stops the call right after this hook
            self.tallies[item_id].before()

    def _on_answer(self, item_id: str, info: CallInfo) -> None:
        self.tallies[item_id].after(info)


class McpSession:
    """The client, the budget and what was fetched, shared by every tool and connection."""

    def __init__(self, client: AsyncClient, settings: McpSettings) -> None:
        self.client = client
        self.settings = settings
        self.budget = SpendBudget(settings.max_spend_units, settings.price_units)
        self.limiter = AdaptiveRate(settings.rate)
        self._remembered: OrderedDict[str, Remembered] = OrderedDict()
        #: Idempotency-Key of an item's fetch that ended without a product (reused).
        self._open_keys: dict[str, str] = {}
        self._run_uid = secrets.token_hex(6)

    # -- what was fetched ----------------------------------------------------------------

    def remembered(self, item_id: str, max_age_s: float | None = None) -> Remembered | None:
        """The product fetched for ``item_id`` in this session (no older than ``max_age_s``)."""
        seen = self._remembered.get(item_id)
        if seen is None or (
            max_age_s is not None and time.monotonic() - seen.monotonic > max_age_s
        ):
            return None
        return seen

    def _remember(self, item_id: str, product: Product) -> Remembered:
        seen = Remembered(
            product_json(product), product.fetched_at or datetime.now(UTC), time.monotonic()
        )
        self._remembered[item_id] = seen
        self._remembered.move_to_end(item_id)
        while len(self._remembered) > MAX_REMEMBERED:
            self._remembered.popitem(last=False)
        self._open_keys.pop(item_id, None)
        return seen

    def reused(self, item_id: str, seen: Remembered) -> ItemOutcome:
        """The outcome of serving ``item_id`` from what this session fetched (free)."""
        return ItemOutcome(
            item_id, "ok", seen.product, source="session", fetched_at=seen.fetched_at
        )

    def _settled(
        self,
        item_id: str,
        product: Product | None,
        error: errors.JditemError | None,
        tally: CallTally,
    ) -> ItemOutcome:
        if product is not None:
            seen = self._remember(item_id, product)
            return ItemOutcome(item_id, "ok", seen.product, tally=tally, fetched_at=seen.fetched_at)
        status: Status = "pending" if isinstance(error, errors.PendingTimeoutError) else "error"
        if status == "error" and not tally.uncertain:
            self._open_keys.pop(item_id, None)  # nothing to replay: the next fetch is new
        return ItemOutcome(item_id, status, error=error, tally=tally)

    def _key(self, item_id: str) -> str:
        """The ``Idempotency-Key`` of the item's next fetch: the open one, else a new one."""
        key = self._open_keys.get(item_id)
        if key is None:
            key = f"jditem-mcp-{self._run_uid}-{secrets.token_hex(6)}-{item_id}"
            self._open_keys[item_id] = key
        return key

    # -- fetches -------------------------------------------------------------------------

    async def fetch_one(
        self, item_id: str | None = None, *, continuation: str | None = None
    ) -> ItemOutcome:
        """Fetch one item (or resume a pending one) within the tool deadline.

        Raises :class:`~jditem.mcp.budget.BudgetRefused` before any call when one charge
        could pass the limit, and :class:`~jditem.errors.ConfigurationError` for a
        malformed continuation; every other failure is in the outcome.
        """
        if continuation is not None:
            item_id = str(parse_continuation(continuation)["itemId"])
        assert item_id is not None
        hold = self.budget.reserve(1, what=f"fetching item {item_id}")
        tally = CallTally()
        deadline = self.settings.tool_deadline
        product: Product | None = None
        error: errors.JditemError | None = None
        key = self._key(item_id)  # a resume carries the key of the get it continues

        def before_call(_: str) -> None:
            tally.before()

        try:
            if continuation is not None:
                product = await self.client.resume(
                    continuation,
                    deadline=deadline,
                    before_call=before_call,
                    on_call=tally.after,
                    idempotency_key=key,
                )
            else:
                product = await self.client.get(
                    item_id,
                    deadline=deadline,
                    before_call=before_call,
                    on_call=tally.after,
                    idempotency_key=key,
                )
        except errors.JditemError as exc:
            error = exc
        finally:
            hold.settle(charged=tally.charged, uncertain=tally.uncertain)
        return self._settled(item_id, product, error, tally)

    async def fetch_many(
        self, item_ids: Sequence[str], *, max_age_s: float | None
    ) -> tuple[list[ItemOutcome], errors.JditemError | None]:
        """Fetch distinct ``item_ids`` through the client's ``get_many`` engine.

        Items fetched within ``max_age_s`` in this session are reused free. The rest are
        reserved as one charge each (:class:`BudgetRefused` before any call when they could
        pass the limit). New calls stop at the tool deadline; calls on the wire finish.
        Returns an outcome per item, in order, and the error that stopped the run (a
        fatal answer such as a wrong token), if any.
        """
        outcomes: dict[str, ItemOutcome] = {}
        to_fetch: list[str] = []
        for item_id in item_ids:
            seen = self.remembered(item_id, max_age_s)
            if seen is not None:
                outcomes[item_id] = self.reused(item_id, seen)
            else:
                to_fetch.append(item_id)
        stopped: errors.JditemError | None = None
        if to_fetch:
            stopped = await self._run_many(to_fetch, outcomes)
        return [outcomes[item_id] for item_id in item_ids], stopped

    async def _run_many(
        self, item_ids: list[str], outcomes: dict[str, ItemOutcome]
    ) -> errors.JditemError | None:
        hold = self.budget.reserve(len(item_ids), what=f"get_products for {len(item_ids)} item(s)")
        tallies = {item_id: CallTally() for item_id in item_ids}
        run = _ToolRun(
            self.client,
            tallies,
            self._key,
            concurrency=self.settings.concurrency,
            limiter=self.limiter,
            deadline=self.settings.tool_deadline,
        )
        timer = asyncio.get_running_loop().call_later(
            self.settings.tool_deadline, run.request_stop, "the tool deadline passed"
        )
        stopped: errors.JditemError | None = None
        try:
            # aclosing: a cancelled tool call must stop the run's calls too, at once
            # (``results`` is an async generator, typed as an iterator)
            stream = cast("AsyncGenerator[ItemResult, None]", run.results(item_ids))
            async with contextlib.aclosing(stream) as results:
                async for result in results:
                    tally = tallies[result.item_id]
                    outcomes[result.item_id] = self._settled(
                        result.item_id, result.product, result.error, tally
                    )
        except errors.JditemError as exc:
            stopped = exc
        finally:
            timer.cancel()
            hold.settle(
                charged=sum(t.charged for t in tallies.values()),
                uncertain=sum(t.uncertain for t in tallies.values()),
            )
        for item_id in item_ids:
            if item_id not in outcomes:
                outcomes[item_id] = ItemOutcome(item_id, "not_fetched", tally=tallies[item_id])
        return stopped
