"""The admission pipeline of SPEC §2.4 and the charge of SPEC §2.5.

Used by the v2 endpoint and by the console's bulk jobs::

    identity = await admission.authenticate(raw_token)        # step 1 (hash lookup)
    answer = await admission.answer(identity, item_id, request_id, wait_seconds=20)

Checks run in the contract's order and the first failing one answers; nothing after it
runs. A rejected call consumes nothing: a rate-limit slot or a quota count taken by an
earlier step is given back when a later step rejects the call (including a 601/602
found at charge time). Every answer is recorded (call records, hourly rollups) and
counted in the health window.

The hot path — a fresh cached result (the task service's in-memory copy) for a known
token — touches the database once: its charge joins the charge batcher's next group
commit, and when the token has a daily quota, the quota count rides in the same
transaction, checked before the budget and the balance exactly in the order of steps
5-7 (so 303 still wins over 602 and 601, and a refused charge counts nothing).

Idempotency keys (``Idempotency-Key`` header; :mod:`jditem.server.accounts.idempotency`):
a key is checked with the parameters (step 3, 400 when malformed). After the rate limit
(step 4), a key this token already paid under for the same item makes the call a
*replay*: steps 5-7 are skipped — a replay is not counted against the daily quota and
is served even when the budget or the balance is now exhausted (it was paid for) — and
the result (cached, or collected again) is answered free, with the header
``Idempotent-Replayed: true``. The same key for another item is 400. A key not used yet
goes the normal way and is written in the charge's transaction; if a concurrent call
with the same key charged first, this call becomes a replay (its quota count is given
back). Calls without a key take exactly the path they took before.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from jditem.protocol.codes import Code
from jditem.protocol.ids import idempotency_key_problem, is_valid_item_id, item_id_problem
from jditem.server.accounts import idempotency, quota
from jditem.server.accounts.batcher import ChargeBatcher
from jditem.server.accounts.charging import ChargeRequest, ChargeResult
from jditem.server.accounts.identities import IdentityCache, TokenIdentity
from jditem.server.accounts.usage import CallRecorder, CallRow
from jditem.server.clock import Clock, now_utc
from jditem.server.settings import ENDPOINT_V2, Settings
from jditem.server.shared.broadcast import IDENTITIES, Broadcast, LocalBroadcast
from jditem.server.shared.health import HealthWindow
from jditem.server.shared.limiter import RateLimiter
from jditem.server.store.db import Database
from jditem.server.store.tables import Account, ApiToken
from jditem.server.tasks.cache import FreshResult
from jditem.server.tasks.outcome import Outcome
from jditem.server.tasks.service import TaskService
from jditem.server.upstream.circuit import Circuit, Refusal
from jditem.wording import plural

log = logging.getLogger("jditem.server.admission")

#: Response header of a free replay of a call already paid under its Idempotency-Key.
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class Answer:
    """What the endpoint answers: a code, its data, extra headers, and the amount charged."""

    code: Code
    message: str
    data: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    charged: int = 0
    task_id: str | None = None
    #: ``data`` already serialized as JSON (a cached payload), else None.
    body: bytes | None = None
    #: True for a code-0 answer served free under an already paid Idempotency-Key.
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class _Key:
    """The call's Idempotency-Key and the oldest still valid key row time."""

    key: str
    since: datetime


@dataclass(slots=True)
class _CallInfo:
    """What the charge of the current call needs to write its call record itself."""

    started: float
    endpoint: str
    job_item_id: int | None
    #: set once the call record was written with the charge (not buffered again)
    recorded: bool = False


#: The call being answered in this task (set by :meth:`Admission.answer`).
_CURRENT_CALL: ContextVar[_CallInfo | None] = ContextVar("jditem_current_call", default=None)


class _Rejected(Exception):
    """Internal: abort a write transaction and answer ``answer``."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.message)
        self.answer = answer


def _reject(code: Code, message: str | None = None, **kwargs: Any) -> Answer:
    return Answer(code=code, message=message or code.default_message, **kwargs)


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
    ) -> None:
        self.settings = settings
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

    # ------------------------------------------------------------------ step 1

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

    # ------------------------------------------------------------- steps 1-8

    async def answer(
        self,
        identity: TokenIdentity | None,
        item_id_raw: str | None,
        request_id: str,
        *,
        wait_seconds: float | None = None,
        job_id: str | None = None,
        token_problem: str | None = None,
        param_problem: str | None = None,
        endpoint: str = ENDPOINT_V2,
        idempotency_key: str | None = None,
        job_item_id: int | None = None,
    ) -> Answer:
        """Answer one call for ``identity`` (None = no or unknown token).

        A charged call's record is written in its charge's transaction (it survives a
        crash right after the answer); every other call's record is buffered.
        ``job_item_id`` (a console bulk-job item) gets the charge added to its total in
        that same transaction.

        ``token_problem`` overrides the 100 message when the caller already knows what
        is wrong with the token (e.g. given twice); ``param_problem`` makes step 3 fail
        with that message (e.g. itemId repeated). ``idempotency_key`` (the
        ``Idempotency-Key`` header) protects a paid call from a second charge (see the
        module docstring). Unexpected errors answer 500.
        """
        started = time.perf_counter()
        item_id = item_id_raw if item_id_raw and is_valid_item_id(item_id_raw) else None
        call = _CallInfo(started, endpoint, job_item_id)
        current = _CURRENT_CALL.set(call)
        try:
            result = await self._decide(
                identity,
                item_id_raw,
                request_id,
                wait_seconds,
                job_id,
                token_problem,
                param_problem,
                endpoint,
                idempotency_key,
            )
        except Exception:
            log.exception("admission failed for requestId %s", request_id)
            result = _reject(
                Code.INTERNAL_ERROR,
                f"internal server error; retry later, and quote requestId {request_id} "
                "if it persists",
            )
        finally:
            _CURRENT_CALL.reset(current)
        self.health.observe(int(result.code))
        if call.recorded:
            return result
        row = CallRow(
            request_id=request_id,
            token_id=identity.token_id if identity else None,
            account_id=identity.account_id if identity else None,
            endpoint=endpoint,
            item_id=item_id,
            code=int(result.code),
            charged=result.charged,
            task_id=result.task_id,
            latency_ms=int((time.perf_counter() - started) * 1000),
            created_at=now_utc(self.clock),
        )
        if result.code is Code.SUCCESS:  # answered without a charge (a free replay, price 0)
            await self.recorder.record_durably(row)
        else:
            self.recorder.record(row)
        return result

    async def _decide(
        self,
        identity: TokenIdentity | None,
        item_id_raw: str | None,
        request_id: str,
        wait_seconds: float | None,
        job_id: str | None,
        token_problem: str | None,
        param_problem: str | None,
        endpoint: str,
        idempotency_key: str | None = None,
    ) -> Answer:
        # 1. token present, known, enabled
        if identity is None:
            return _reject(
                Code.INVALID_TOKEN,
                token_problem
                or "invalid token: send a valid token as 'Authorization: Bearer <token>' "
                "or ?token=<token>",
            )
        if not identity.enabled:
            return _reject(
                Code.INVALID_TOKEN,
                f"token {identity.prefix}... is disabled; ask the administrator to enable it "
                "or use another token",
            )
        # 2. permission
        if not identity.allows(endpoint):
            return _reject(
                Code.PERMISSION_DENIED,
                f"permission denied: token {identity.prefix}... may not use {endpoint}; "
                "ask the administrator to grant it",
            )
        # 3. itemId
        problem = param_problem or item_id_problem(item_id_raw)
        if problem is None and idempotency_key is not None:
            problem = idempotency_key_problem(idempotency_key)
        if problem is not None or item_id_raw is None:
            return _reject(Code.INVALID_PARAMS, f"invalid parameters: {problem}")
        item_id = item_id_raw
        # 4. rate limit
        rate_key = f"token:{identity.token_id}"
        if identity.rate_limit is not None:
            wait = await self.limiter.acquire(rate_key, identity.rate_limit, identity.burst)
            if wait is not None:
                retry_after = max(1, math.ceil(wait))
                return _reject(
                    Code.RATE_LIMITED,
                    f"rate limit exceeded ({identity.rate_limit:g} requests/second); "
                    f"wait {retry_after} s and slow down",
                    data={"retryAfter": retry_after},
                    headers={"Retry-After": str(retry_after)},
                )
        key: _Key | None = None
        if idempotency_key is not None:
            since = now_utc(self.clock) - timedelta(seconds=self.settings.idempotency_ttl_seconds)
            key = _Key(idempotency_key, since)
            async with self.db.reading() as session:
                used = await idempotency.lookup(session, identity.token_id, key.key, since)
            if used is not None and used.item_id != item_id:
                await self._refund_rate(identity, rate_key)
                return _key_conflict_answer(used.item_id)
            if used is not None:  # already paid: a free replay, steps 5-7 skipped
                return await self._replay(item_id, wait_seconds, job_id)
        # 5-7. daily quota, budget, balance; 8. cached result / task, then charge
        fresh = self.tasks.fresh_result(item_id)  # memory only: no side effect
        price = self.settings.price_units
        cached_ok = fresh is not None and fresh.status == "ok"
        if identity.daily_quota is not None and cached_ok and fresh is not None and price > 0:
            # quota count and charge in one group-commit transaction
            answer = await self._charge(identity, item_id, request_id, fresh, counted=True, key=key)
            if not answer.replayed:
                self.identities.after_call(identity, answer.code)
            if answer.code is not Code.SUCCESS:  # nothing was counted or charged
                await self._refund_rate(identity, rate_key)
            return answer
        day = (
            quota.local_day(now_utc(self.clock), self.settings.timezone)
            if identity.daily_quota is not None
            else ""
        )
        try:
            await self._check_money_and_quota(identity, day)
        except _Rejected as rejected:
            await self._refund_rate(identity, rate_key)
            self.identities.after_call(identity, rejected.answer.code)
            return rejected.answer
        if cached_ok and fresh is not None:
            answer = await self._charge(identity, item_id, request_id, fresh, key=key)
        elif fresh is not None:
            answer = _not_supported_answer(item_id, fresh.reason, fresh.task_id)
        elif self.circuit is not None and (refusal := self.circuit.refusal()) is not None:
            answer = _unavailable_answer(refusal)
        else:
            answer = await self._resolve(
                identity, item_id, request_id, wait_seconds, job_id, key=key
            )
        if answer.replayed:  # a concurrent call with the key paid: count nothing
            if identity.daily_quota is not None:
                async with self.db.writing() as session:
                    await quota.release(session, identity.token_id, day)
            return answer
        if answer.code in (Code.SUCCESS, Code.BUDGET_EXHAUSTED, Code.INSUFFICIENT_BALANCE):
            self.identities.after_call(identity, answer.code)
        if answer.code in (
            Code.BUDGET_EXHAUSTED,
            Code.INSUFFICIENT_BALANCE,
            Code.INVALID_PARAMS,  # the key was used for another item meanwhile
            Code.SERVICE_UNAVAILABLE,  # the relay's upstream refuses us: consume nothing
        ):
            await self._refund_rate(identity, rate_key)
            if identity.daily_quota is not None:
                async with self.db.writing() as session:
                    await quota.release(session, identity.token_id, day)
        return answer

    async def _refund_rate(self, identity: TokenIdentity, key: str) -> None:
        if identity.rate_limit is not None:
            await self.limiter.refund(key)

    def _money_problem(self, budget: int | None, spent: int, balance: int) -> Answer | None:
        price = self.settings.price_units
        if budget is not None and spent + price > budget:
            return _budget_answer()
        if balance < price:
            return _balance_answer()
        return None

    async def _check_money_and_quota(self, identity: TokenIdentity, day: str) -> None:
        if identity.daily_quota is None:
            problem = self._money_problem(identity.budget, identity.spent, identity.balance)
            if problem is not None:
                raise _Rejected(problem)
            return
        async with self.db.writing() as session:
            if not await quota.try_consume(session, identity.token_id, day, identity.daily_quota):
                raise _Rejected(self._quota_answer(identity.daily_quota))
            fresh = (
                await session.execute(
                    select(ApiToken.budget, ApiToken.spent, Account.balance)
                    .join(Account, Account.id == ApiToken.account_id)
                    .where(ApiToken.id == identity.token_id)
                )
            ).one()
            problem = self._money_problem(fresh[0], fresh[1], fresh[2])
            if problem is not None:
                raise _Rejected(problem)  # rolls the quota count back

    def _quota_answer(self, daily_quota: int) -> Answer:
        reset = quota.next_reset(now_utc(self.clock), self.settings.timezone)
        return _reject(
            Code.QUOTA_EXCEEDED,
            f"daily quota of {plural(daily_quota, 'call')} exceeded; "
            f"it resets at {reset.isoformat()}",
            data={"resetAt": reset.isoformat(timespec="milliseconds")},
        )

    async def _resolve(
        self,
        identity: TokenIdentity,
        item_id: str,
        request_id: str,
        wait_seconds: float | None,
        job_id: str | None,
        *,
        key: _Key | None = None,
    ) -> Answer:
        outcome, answer = await self._outcome(item_id, wait_seconds, job_id)
        if answer is not None:
            return answer
        return await self._charge(identity, item_id, request_id, outcome, key=key)

    async def _replay(self, item_id: str, wait_seconds: float | None, job_id: str | None) -> Answer:
        """Step 8 for a call already paid under its key: the result, free of charge."""
        fresh = self.tasks.fresh_result(item_id)
        if fresh is not None and fresh.status != "ok":
            return _not_supported_answer(item_id, fresh.reason, fresh.task_id)
        result: Outcome | FreshResult
        if fresh is not None:
            result = fresh
        else:
            outcome, answer = await self._outcome(item_id, wait_seconds, job_id)
            if answer is not None:
                return answer
            result = outcome
        return _replay_answer(result)

    async def _outcome(
        self, item_id: str, wait_seconds: float | None, job_id: str | None
    ) -> tuple[Outcome, Answer | None]:
        """Resolve the item's task; the answer unless the outcome is ready."""
        wait = self.settings.wait_seconds if wait_seconds is None else wait_seconds
        outcome = await self.tasks.resolve(item_id, wait_seconds=wait, job_id=job_id)
        return outcome, self._unready_answer(item_id, outcome)

    def _unready_answer(self, item_id: str, outcome: Outcome) -> Answer | None:
        if outcome.kind == "pending":
            status = dict(outcome.status or {})
            retry_after = int(status.get("retryAfter") or self.settings.retry_after_seconds)
            return Answer(
                code=Code.PENDING,
                message=f"task pending; call again with the same itemId in {retry_after} s",
                data=status,
                headers={"Retry-After": str(retry_after)},
                task_id=outcome.task_id,
            )
        if outcome.kind == "not_supported":
            return _not_supported_answer(item_id, outcome.error, outcome.task_id)
        if outcome.kind == "failed" and self.circuit is not None and self.circuit.state == "open":
            return _unavailable_answer(self.circuit.current_refusal(), outcome.task_id)
        if outcome.kind == "failed":
            reason = outcome.error or "collection failed"
            return Answer(
                code=Code.COLLECTION_FAILED,
                message=f"collection failed ({reason}); please retry later",
                task_id=outcome.task_id,
            )
        return None

    async def _charge(
        self,
        identity: TokenIdentity,
        item_id: str,
        request_id: str,
        result: Outcome | FreshResult,
        *,
        counted: bool = False,
        key: _Key | None = None,
    ) -> Answer:
        """Charge a ready result (SPEC §2.5); ``counted`` also counts the daily quota in
        the same transaction (steps 5-7 for a cached result); ``key`` is written with
        the charge (a key another call paid under meanwhile makes this a replay)."""
        price = self.settings.price_units
        if price > 0:
            now = now_utc(self.clock)
            day = quota.local_day(now, self.settings.timezone) if counted else None
            call = _CURRENT_CALL.get()
            record = None
            if call is not None:
                record = CallRow(
                    request_id=request_id,
                    token_id=identity.token_id,
                    account_id=identity.account_id,
                    endpoint=call.endpoint,
                    item_id=item_id,
                    code=int(Code.SUCCESS),
                    charged=price,
                    task_id=result.task_id,
                    latency_ms=int((time.perf_counter() - call.started) * 1000),
                    created_at=now,
                )
            charged = await self.charger.charge(
                ChargeRequest(
                    account_id=identity.account_id,
                    token_id=identity.token_id,
                    price=price,
                    request_id=request_id,
                    item_id=item_id,
                    now=now,
                    quota=identity.daily_quota if counted else None,
                    day=day,
                    idempotency_key=key.key if key is not None else None,
                    key_since=key.since if key is not None else None,
                    call=record,
                    job_item_id=call.job_item_id if call is not None else None,
                )
            )
            if charged is ChargeResult.CHARGED and call is not None:
                call.recorded = True
            if charged is ChargeResult.REPLAYED:
                return _replay_answer(result)
            if charged is ChargeResult.KEY_CONFLICT:
                return _key_conflict_answer(None)
            if charged is ChargeResult.QUOTA_EXCEEDED:
                return self._quota_answer(identity.daily_quota or 0)
            if charged is ChargeResult.BUDGET_EXHAUSTED:
                return _budget_answer()
            if charged is ChargeResult.INSUFFICIENT_BALANCE:
                return _balance_answer()
        body = result.payload_json if isinstance(result, FreshResult) else None
        return Answer(
            code=Code.SUCCESS,
            message="success",
            data=result.payload,
            charged=price,
            task_id=result.task_id,
            body=body,
        )


def _not_supported_answer(item_id: str, reason: str | None, task_id: str | None) -> Answer:
    return Answer(
        code=Code.NOT_SUPPORTED,
        message=f"item {item_id} not supported or not found on JD "
        f"({reason or 'not supported'}); retrying will not help",
        task_id=task_id,
    )


def _unavailable_answer(refusal: Refusal, task_id: str | None = None) -> Answer:
    """503 for an open upstream circuit: ``data`` is the wire shape of :class:`Refusal`."""
    return Answer(
        code=Code.SERVICE_UNAVAILABLE,
        message=refusal.message,
        data=refusal.data(),
        headers={"Retry-After": str(refusal.retry_after)},
        task_id=task_id,
    )


def _replay_answer(result: Outcome | FreshResult) -> Answer:
    body = result.payload_json if isinstance(result, FreshResult) else None
    return Answer(
        code=Code.SUCCESS,
        message="success",
        data=result.payload,
        headers={REPLAYED_HEADER: "true"},
        task_id=result.task_id,
        body=body,
        replayed=True,
    )


def _key_conflict_answer(used_for: str | None) -> Answer:
    where = f"item {used_for}" if used_for is not None else "another item"
    return _reject(
        Code.INVALID_PARAMS,
        f"invalid parameters: this Idempotency-Key was already used for {where} by this "
        "token; use a new key per item",
    )


def _budget_answer() -> Answer:
    return _reject(
        Code.BUDGET_EXHAUSTED,
        "this token's cumulative budget is exhausted; raise its budget or use another token",
    )


def _balance_answer() -> Answer:
    return _reject(
        Code.INSUFFICIENT_BALANCE, "insufficient account balance; top up the account to continue"
    )
