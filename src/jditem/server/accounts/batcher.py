"""Group commit for charges: many concurrent charges, one write transaction.

Each charge needs a short write transaction (SPEC §2.5), and SQLite has one writer at a
time, so charging call by call caps throughput at one commit round trip per call. The
:class:`ChargeBatcher` queues the charges of concurrent calls and applies them together:
on SQLite, in ONE round trip to a dedicated thread holding a synchronous connection to
the same file (each charge keeps its own conditional updates, so the outcome of every
call is exactly what it would be alone). On other databases it falls back to one async
transaction per charge (:func:`jditem.server.accounts.charging.charge`).
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, or_, update

from jditem.server.accounts.charging import ChargeResult, charge
from jditem.server.store import sqlite
from jditem.server.store.db import Database
from jditem.server.store.tables import Account, ApiToken, LedgerEntry

#: Most charges applied in one transaction.
MAX_BATCH = 256
#: Bound on waiting for the queued charges at shutdown.
STOP_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    """One call to charge."""

    account_id: int
    token_id: int
    price: int
    request_id: str
    item_id: str
    now: datetime


def apply_batch(connection: Connection, batch: list[ChargeRequest]) -> list[ChargeResult]:
    """Apply ``batch`` inside the caller's transaction; one result per request, in order.

    Per request: spend the token's budget (conditional), then the account balance
    (conditional); if the balance fails, the token's spend is given back at once. The
    ledger rows of the successful charges are inserted at the end.
    """
    results: list[ChargeResult] = []
    ledger_rows: list[dict[str, object]] = []
    for req in batch:
        spent = connection.execute(
            update(ApiToken)
            .where(
                ApiToken.id == req.token_id,
                or_(ApiToken.budget.is_(None), ApiToken.spent + req.price <= ApiToken.budget),
            )
            .values(spent=ApiToken.spent + req.price, last_used_at=req.now)
        )
        if spent.rowcount != 1:
            results.append(ChargeResult.BUDGET_EXHAUSTED)
            continue
        paid = connection.execute(
            update(Account)
            .where(Account.id == req.account_id, Account.balance >= req.price)
            .values(balance=Account.balance - req.price)
        )
        if paid.rowcount != 1:
            connection.execute(
                update(ApiToken)
                .where(ApiToken.id == req.token_id)
                .values(spent=ApiToken.spent - req.price)
            )
            results.append(ChargeResult.INSUFFICIENT_BALANCE)
            continue
        ledger_rows.append(
            {
                "account_id": req.account_id,
                "token_id": req.token_id,
                "kind": "charge",
                "amount": -req.price,
                "request_id": req.request_id,
                "item_id": req.item_id,
                "created_at": req.now,
            }
        )
        results.append(ChargeResult.CHARGED)
    if ledger_rows:
        connection.execute(insert(LedgerEntry), ledger_rows)
    return results


_Item = tuple["ChargeRequest", "asyncio.Future[ChargeResult]"]


def _apply_in_thread(engine: Engine, batch: list[ChargeRequest]) -> list[ChargeResult]:
    with engine.begin() as connection:
        return apply_batch(connection, batch)


class _RollBack(Exception):
    def __init__(self, result: ChargeResult) -> None:
        super().__init__(result.value)
        self.result = result


#: Put on the queue by stop(): the runner applies what precedes it, then exits.
_STOP = None


class ChargeBatcher:
    """Queues charges and applies them in batches (see the module docstring)."""

    def __init__(self, db: Database, url: str) -> None:
        self._db = db
        sync = sqlite.sync_url(url)
        self._engine: Engine | None = sqlite.create_sync_engine(sync) if sync else None
        self._executor: ThreadPoolExecutor | None = None
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._runner: asyncio.Task[None] | None = None

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        """Charge one call; waits for the batch it joins to commit."""
        if self._engine is None or self._runner is None:
            return await self._charge_alone(request)
        future: asyncio.Future[ChargeResult] = asyncio.get_running_loop().create_future()
        await self._queue.put((request, future))
        return await future

    async def _charge_alone(self, request: ChargeRequest) -> ChargeResult:
        try:
            async with self._db.writing() as session:
                result = await charge(
                    session,
                    account_id=request.account_id,
                    token_id=request.token_id,
                    price=request.price,
                    request_id=request.request_id,
                    item_id=request.item_id,
                    now=request.now,
                )
                if result is not ChargeResult.CHARGED:
                    raise _RollBack(result)
        except _RollBack as rolled_back:
            return rolled_back.result
        return result

    def start(self) -> None:
        """Start the batching task (SQLite only; other databases charge one by one)."""
        if self._engine is not None and self._runner is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jditem-charge")
            self._runner = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Apply what is queued (bounded wait), then stop the task, thread and engine."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await self._queue.put(_STOP)
            with contextlib.suppress(TimeoutError):  # wait_for cancels the runner then
                await asyncio.wait_for(runner, STOP_TIMEOUT)
            while not self._queue.empty():  # charges still queued never ran
                item = self._queue.get_nowait()
                if item is not None and not item[1].done():
                    item[1].set_exception(RuntimeError("the server is shutting down; retry"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._engine is not None:
            self._engine.dispose()

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                item = self._queue.get_nowait()
                if item is None:
                    stop = True
                    break
                batch.append(item)
            await self._apply(batch)
            if stop:
                return

    async def _apply(self, batch: list[_Item]) -> None:
        engine, executor = self._engine, self._executor
        assert engine is not None
        assert executor is not None
        loop = asyncio.get_running_loop()
        try:
            async with self._db.write_lock:
                results = await loop.run_in_executor(
                    executor, _apply_in_thread, engine, [req for req, _ in batch]
                )
        except Exception as exc:  # the whole batch rolled back: nobody was charged
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
