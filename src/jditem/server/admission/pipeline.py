"""The admission pipeline: SPEC §2.4's checks in order, then the result and its charge.

Used by the v2 endpoint and the bulk-job runner::

    identity = await admission.authenticate(raw_token)        # step 1 (hash lookup)
    answer = await admission.answer(identity, item_id, request_id, wait_seconds=20)

One :class:`~.call.Call` goes from step to step; the first failing step answers and
nothing after it runs:

1-3. token, permission, parameters — no side effect;
4.   a rate slot (:class:`~.holds.RateSlot`); then an Idempotency-Key this token already
     paid under for the item makes the call a free *replay* (steps 5-7 skipped);
5-7. daily quota (:class:`~.holds.QuotaCount`), budget, balance;
8.   the result — the fresh one in memory, else the item's task (found or created, then
     waited for) — and, when ready, its charge, which writes the call record, the key,
     a bulk-job item's total and the account's history of the item (SPEC §6.1,
     :mod:`jditem.server.monitor.history`) in the same transaction.

The holds are settled in one ``finally`` against the answer: a rejected call consumes
nothing. A call whose fresh result is in memory and whose token has a daily quota takes
the same steps, with 5-7 decided in the database by its charge's transaction (the quota
count rides in it; one group commit).

After the answer (:meth:`Admission._settle`): the health window counts it, the cached
identity follows the money, and the call record is written unless its charge wrote it
(a product answered free — a replay, a price of 0 — also writes its history then).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from jditem.protocol.codes import Code
from jditem.protocol.ids import idempotency_key_problem, item_id_problem
from jditem.server.accounts import idempotency, list_spend, quota
from jditem.server.accounts.batcher import ChargeBatcher
from jditem.server.accounts.charging import ChargeRequest, ChargeResult
from jditem.server.accounts.identities import IdentityCache, TokenIdentity
from jditem.server.accounts.usage import CallRecorder
from jditem.server.admission import answers
from jditem.server.admission.answers import Answer
from jditem.server.admission.call import Call, JobOrigin, WatchOrigin
from jditem.server.admission.holds import Hold, QuotaCount, RateSlot
from jditem.server.clock import Clock, now_utc
from jditem.server.monitor import history
from jditem.server.monitor.history_writer import HistoryWriter
from jditem.server.settings import ENDPOINT_V2, Settings
from jditem.server.shared.broadcast import IDENTITIES, Broadcast, LocalBroadcast
from jditem.server.shared.health import HealthWindow
from jditem.server.shared.limiter import RateLimiter
from jditem.server.store.db import Database
from jditem.server.store.tables import Account, ApiToken
from jditem.server.tasks.outcome import Outcome
from jditem.server.tasks.service import TaskService
from jditem.server.upstream.circuit import Circuit

log = logging.getLogger("jditem.server.admission")

#: Answers that moved or refused money: the cached identity follows them.
MONEY_CODES = frozenset(
    {Code.SUCCESS, Code.QUOTA_EXCEEDED, Code.BUDGET_EXHAUSTED, Code.INSUFFICIENT_BALANCE}
)


class _Refused(Exception):
    """Internal: roll a write transaction back and answer ``answer``."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.message)
        self.answer = answer


class Admission:
    """Runs the SPEC §2.4 checks for one call and charges successful answers."""

    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        limiter: RateLimiter,
        tasks: TaskService,
        recorder: CallRecorder,
        health: HealthWindow,
        clock: Clock,
        charger: ChargeBatcher,
        circuit: Circuit | None = None,
        broadcast: Broadcast | None = None,
        history_writer: HistoryWriter | None = None,
    ) -> None:
        self.settings = settings
        #: When observations reach the account's history (SPEC §6.1).
        self.history = (
            history_writer
            if history_writer is not None
            else HistoryWriter(db, flush_seconds=settings.history_flush_seconds)
        )
        #: The relay's upstream circuit: while open, uncollected items answer 503.
        self.circuit = circuit
        self.broadcast: Broadcast = broadcast if broadcast is not None else LocalBroadcast()
        self._publishing: set[asyncio.Task[None]] = set()
        self.db = db
        self.limiter = limiter
        self.tasks = tasks
        self.recorder = recorder
        self.health = health
        self.clock = clock
        self.charger = charger
        self.identities = IdentityCache(settings=settings, db=db)

    # ---------------------------------------------------------------- identities

    async def authenticate(self, raw_token: str | None) -> TokenIdentity | None:
        """The identity of ``raw_token``, or None when unknown (see :class:`IdentityCache`).

        Disabled tokens are returned too (``enabled=False``); :meth:`answer` rejects
        them with 100, so callers can tell "unknown" from "disabled" in the message.
        """
        return await self.identities.authenticate(raw_token)

    def invalidate(self) -> None:
        """Forget cached identities here and in every other process (after changing
        tokens, accounts or balances); the other processes follow within milliseconds
        (scale-out) or within ``token_cache_seconds`` when Redis is unreachable."""
        self.identities.invalidate()
        task = asyncio.get_running_loop().create_task(self.broadcast.publish(IDENTITIES))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def identity_for_token(self, token_id: int) -> TokenIdentity | None:
        """A fresh identity for a token chosen by id (the console's bulk jobs)."""
        return await self.identities.for_token_id(token_id)

    # ------------------------------------------------------------------ one call

    async def answer(
        self,
        identity: TokenIdentity | None,
        item_id_raw: str | None,
        request_id: str,
        *,
        wait_seconds: float | None = None,
        token_problem: str | None = None,
        param_problem: str | None = None,
        endpoint: str = ENDPOINT_V2,
        idempotency_key: str | None = None,
        origin: JobOrigin | WatchOrigin | None = None,
        collected_after: datetime | None = None,
    ) -> Answer:
        """Answer one call for ``identity`` (None = no or unknown token).

        A charged call's record is written in its charge's transaction (it survives a
        crash right after the answer); every other call's record is buffered.

        ``token_problem`` overrides the 100 message when the caller already knows what
        is wrong with the token (e.g. given twice); ``param_problem`` makes step 3 fail
        with that message (e.g. itemId repeated). ``idempotency_key`` (the
        ``Idempotency-Key`` header) protects a paid call from a second charge.
        ``origin`` names the bulk-job item or the watch list a call is made for (a watch
        list's daily budget binds after the token's and the balance). ``collected_after``:
        a cached result collected at or before it does not answer (nor get charged); the
        item is collected anew — a watch check observes the item, not the cache.
        Unexpected errors answer 500.
        """
        call = Call(
            request_id=request_id,
            identity=identity,
            item_id_raw=item_id_raw,
            endpoint=endpoint,
            wait_seconds=wait_seconds,
            idempotency_key=idempotency_key,
            token_problem=token_problem,
            param_problem=param_problem,
            origin=origin,
            collected_after=collected_after,
        )
        try:
            answer = await self._admit(call)
        except Exception:
            log.exception("admission failed for requestId %s", request_id)
            answer = answers.internal_error(request_id)
        await self._settle(call, answer)
        return answer

    async def _admit(self, call: Call) -> Answer:
        refused = self._refusal(call)
        if refused is not None:
            return refused
        holds: list[Hold] = []
        answer: Answer | None = None
        try:
            answer = await self._admit_holding(call, holds)
            return answer
        finally:
            if answer is not None:  # an error keeps what it took: it is no rejection
                for hold in reversed(holds):
                    await hold.settle(answer)

    def _refusal(self, call: Call) -> Answer | None:
        """Steps 1-3: token present, known and enabled; permission; parameters."""
        identity = call.identity
        if identity is None:
            return answers.unknown_token(call.token_problem)
        if not identity.enabled:
            return answers.disabled_token(identity.prefix)
        if not identity.allows(call.endpoint):
            return answers.permission_denied(identity.prefix, call.endpoint)
        problem = call.param_problem or item_id_problem(call.item_id_raw)
        if problem is None and call.idempotency_key is not None:
            problem = idempotency_key_problem(call.idempotency_key)
        if problem is not None or call.item_id is None:
            return answers.invalid_params(problem)
        return None

    async def _admit_holding(self, call: Call, holds: list[Hold]) -> Answer:
        """Steps 4-8; each hold taken is appended to ``holds``."""
        identity = call.token
        # 4. rate limit
        if identity.rate_limit is not None:
            rate_key = f"token:{identity.token_id}"
            wait = await self.limiter.acquire(rate_key, identity.rate_limit, identity.burst)
            if wait is not None:
                return answers.rate_limited(identity.rate_limit, wait)
            holds.append(RateSlot(self.limiter, rate_key))
        if call.idempotency_key is not None:
            used_for = await self._key_used_for(call)
            if used_for is not None and used_for != call.item:
                return answers.key_conflict(used_for)
            if used_for is not None:  # already paid: a free replay, steps 5-7 skipped
                return await self._replay(call)
        # 5-7. daily quota, budget, balance; 8. the result and its charge
        fresh = self.tasks.cached(call.item, after=call.collected_after)
        if (
            fresh is not None
            and fresh.kind == "ready"
            and identity.daily_quota is not None
            and self.settings.price_units > 0
        ):
            return await self._charge(call, fresh, counted=True)  # 5-7 in its transaction
        refused = await self._quota_and_money(call, holds)
        if refused is not None:
            return refused
        if call.watch_list_id is not None and not await self._list_allows(call):
            return answers.list_budget_exhausted()
        result = await self._result(call, fresh)
        if isinstance(result, Answer):
            return result
        return self._unready(call, result) or await self._charge(call, result)

    async def _key_used_for(self, call: Call) -> str | None:
        """The item this token already paid for under the call's Idempotency-Key."""
        assert call.idempotency_key is not None
        ttl = timedelta(seconds=self.settings.idempotency_ttl_seconds)
        call.key_since = now_utc(self.clock) - ttl
        async with self.db.reading() as session:
            used = await idempotency.lookup(
                session, call.token.token_id, call.idempotency_key, call.key_since
            )
        return used.item_id if used is not None else None

    async def _replay(self, call: Call) -> Answer:
        """Step 8 for a call already paid under its key: the result, free of charge."""
        result = await self._result(call, self.tasks.cached(call.item))
        if isinstance(result, Answer):
            return result
        return self._unready(call, result) or answers.replayed(result)

    async def _quota_and_money(self, call: Call, holds: list[Hold]) -> Answer | None:
        """Steps 5-7: count the daily quota (a hold), then budget and balance."""
        identity = call.token
        price = self.settings.price_units
        if identity.daily_quota is None:
            return _money_refusal(price, identity.budget, identity.spent, identity.balance)
        limit, timezone = identity.daily_quota, self.settings.timezone
        now = now_utc(self.clock)
        day = quota.local_day(now, timezone)
        try:
            async with self.db.writing() as session:
                if not await quota.try_consume(session, identity.token_id, day, limit):
                    raise _Refused(answers.quota_exceeded(limit, now, timezone))
                budget, spent, balance = (
                    await session.execute(
                        select(ApiToken.budget, ApiToken.spent, Account.balance)
                        .join(Account, Account.id == ApiToken.account_id)
                        .where(ApiToken.id == identity.token_id)
                    )
                ).one()
                refused = _money_refusal(price, budget, spent, balance)
                if refused is not None:
                    raise _Refused(refused)  # rolls the quota count back
        except _Refused as exc:
            return exc.answer
        holds.append(QuotaCount(self.db, identity.token_id, day))
        return None

    async def _list_allows(self, call: Call) -> bool:
        """Step 7 for a watch list's check: one more charge fits the list's daily budget."""
        assert call.watch_list_id is not None
        day = quota.local_day(now_utc(self.clock), self.settings.timezone)
        async with self.db.reading() as session:
            return await list_spend.allows(
                session, call.watch_list_id, day, self.settings.price_units
            )

    async def _result(self, call: Call, fresh: Outcome | None) -> Outcome | Answer:
        """Step 8's result: ``fresh`` (from memory), else the item's task, waited for;
        503 at once while the relay's upstream circuit refuses new collections."""
        if fresh is not None:
            return fresh
        if self.circuit is not None and (refusal := self.circuit.refusal()) is not None:
            return answers.unavailable(refusal)
        wait = self.settings.wait_seconds if call.wait_seconds is None else call.wait_seconds
        return await self.tasks.collect(
            call.item, wait_seconds=wait, job_id=call.job_id, after=call.collected_after
        )

    def _unready(self, call: Call, outcome: Outcome) -> Answer | None:
        """The answer for a result that is not a product (102, 202, 301, 503), else None."""
        if outcome.kind == "pending":
            return answers.pending(outcome, self.settings.retry_after_seconds)
        if outcome.kind == "not_supported":
            return answers.not_supported(call.item, outcome.error, outcome.task_id)
        if outcome.kind == "failed" and self.circuit is not None and self.circuit.state == "open":
            return answers.unavailable(self.circuit.current_refusal(), outcome.task_id)
        if outcome.kind == "failed":
            return answers.collection_failed(outcome)
        return None

    async def _charge(self, call: Call, result: Outcome, *, counted: bool = False) -> Answer:
        """Charge a ready result (SPEC §2.5). ``counted``: steps 5-7 in the charge's
        transaction (the quota count first, then budget and balance)."""
        price = self.settings.price_units
        if price <= 0:
            return answers.success(result, 0)
        identity = call.token
        now = now_utc(self.clock)
        timezone = self.settings.timezone
        seen = self._seen(call, result.payload, result.body, now)
        confirms = seen is not None and self.history.confirms(seen)
        charged = await self.charger.charge(
            ChargeRequest(
                account_id=identity.account_id,
                token_id=identity.token_id,
                price=price,
                request_id=call.request_id,
                item_id=call.item,
                now=now,
                quota=identity.daily_quota if counted else None,
                day=(
                    quota.local_day(now, timezone)
                    if counted or call.watch_list_id is not None
                    else None
                ),
                idempotency_key=call.idempotency_key,
                key_since=call.key_since,
                call=call.record(Code.SUCCESS, price, result.task_id, now),
                job_item_id=call.origin.item_row if isinstance(call.origin, JobOrigin) else None,
                seen=() if seen is None or confirms else self.history.with_pending(seen),
                watch_list_id=call.watch_list_id,
            )
        )
        if charged is ChargeResult.CHARGED:
            call.recorded = True
            if seen is not None and confirms:  # an unchanged state: its confirmation waits
                self.history.keep(seen)
            elif seen is not None:
                self.history.written(seen)
            return answers.success(result, price)
        if charged is ChargeResult.REPLAYED:  # a concurrent call paid under the key
            return answers.replayed(result)
        if charged is ChargeResult.KEY_CONFLICT:
            return answers.key_conflict(None)
        if charged is ChargeResult.QUOTA_EXCEEDED:
            return answers.quota_exceeded(identity.daily_quota or 0, now, timezone)
        if charged is ChargeResult.BUDGET_EXHAUSTED:
            return answers.budget_exhausted()
        if charged is ChargeResult.LIST_BUDGET_EXHAUSTED:
            return answers.list_budget_exhausted()
        return answers.insufficient_balance()

    def _seen(
        self, call: Call, payload: object, body: bytes | None, at: datetime
    ) -> history.Seen | None:
        """The product's observation for the account's history (None when it is off)."""
        if not self.settings.history:
            return None
        return history.seen_of(call.token.account_id, call.item, payload, body, at)

    async def _observe_free(self, call: Call, answer: Answer, at: datetime) -> None:
        """History of a product answered free (a replay, a price of 0): its own write."""
        seen = self._seen(call, answer.data, answer.body, at)
        if seen is None:
            return
        if self.history.confirms(seen):
            self.history.keep(seen)
            return
        try:
            await self.db.write_batch(history.record_free, self.history.with_pending(seen))
            self.history.written(seen)
        except Exception:  # the answer stands; history misses one confirmation
            log.warning(
                "history of item %s not written (requestId %s)",
                call.item,
                call.request_id,
                exc_info=True,
            )

    async def _settle(self, call: Call, answer: Answer) -> None:
        """After the answer: health window, cached identity, call record."""
        self.health.observe(int(answer.code))
        if call.identity is not None and answer.code in MONEY_CODES and not answer.replayed:
            self.identities.after_call(call.identity, answer.code)
        if call.recorded:
            return
        now = now_utc(self.clock)
        row = call.record(answer.code, answer.charged, answer.task_id, now)
        if answer.code is Code.SUCCESS:  # answered without a charge (a free replay, price 0)
            await self._observe_free(call, answer, now)
            await self.recorder.record_durably(row)
        else:
            self.recorder.record(row)


def _money_refusal(price: int, budget: int | None, spent: int, balance: int) -> Answer | None:
    """Steps 6-7 for ``price``: 602 over the budget, 601 over the balance, else None."""
    if budget is not None and spent + price > budget:
        return answers.budget_exhausted()
    if balance < price:
        return answers.insufficient_balance()
    return None
