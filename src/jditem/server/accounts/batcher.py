"""Group commit for charges: many concurrent charges, one write transaction.

Each charge needs a write transaction (SPEC §2.5), and SQLite has one writer at a time,
so charging call by call caps throughput at one commit round trip per call. The
:class:`ChargeBatcher` queues the charges of concurrent calls and applies them together
(:func:`~jditem.server.accounts.charge_plan.apply_batch`) in ONE transaction, in one
round trip to the database's writer (:meth:`~jditem.server.store.db.Database.write_charges`:
on a SQLite file a connection used on the event loop's thread, on PostgreSQL one the
batcher keeps, where a batch that needs only the money rules is ONE statement:
:mod:`.charge_function`). A charge may count its call against the token's daily quota
(SPEC §2.4 step 5), write its call record, its idempotency key and a bulk-job item's
total in the same transaction, so an admitted, charged call costs a share of one
transaction, not several.

Expired idempotency keys are deleted by the batcher at most once a minute (only once
keyed charges were seen).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime

from jditem.server.accounts import charge_function, idempotency
from jditem.server.accounts.charge_plan import StalePlanError, apply_batch, apply_each_retrying
from jditem.server.accounts.charge_sql import purge_keys
from jditem.server.accounts.charging import ChargeRequest, ChargeResult
from jditem.server.store.db import Database
from jditem.server.store.held import ConnectionLostError

#: Most charges applied in one transaction.
MAX_BATCH = 256
#: Bound on waiting for the queued charges at shutdown.
STOP_TIMEOUT = 10.0

log = logging.getLogger("jditem.server.accounts.batcher")


_Item = tuple[ChargeRequest, "asyncio.Future[ChargeResult]"]


class ChargeBatcher:
    """Queues charges and applies them in batches (see the module docstring).

    Batching is on once :meth:`start` was called and ``db`` batches writes (a SQLite
    file, PostgreSQL); otherwise each charge is applied alone, by the same SQL.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[_Item] = []
        #: Transactions the batching task has applied (charges / this = batch size).
        self.batches_applied = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._runner: asyncio.Task[None] | None = None
        # expired idempotency keys: delete rows created before _purge_before, at most
        # once per PURGE_INTERVAL_SECONDS, once a keyed charge has been seen
        self._purge_before: datetime | None = None
        self._next_purge = time.monotonic() + idempotency.PURGE_INTERVAL_SECONDS

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        """Charge one call; waits until the batch it joins has committed."""
        if request.idempotency_key is not None and request.key_since is not None:
            self._purge_before = request.key_since
        if self._runner is None:
            return await self._charge_alone(request)
        future: asyncio.Future[ChargeResult] = asyncio.get_running_loop().create_future()
        self._pending.append((request, future))
        self._wake.set()
        return await future

    async def _charge_alone(self, request: ChargeRequest) -> ChargeResult:
        await self._purge_if_due()
        results = await self._db.write_batch(apply_each_retrying, [request])
        return results[0]

    def start(self) -> None:
        """Start the batching task (when the store batches writes; else one by one)."""
        if self._db.batches_writes and self._runner is None:
            self._stopping = False
            self._runner = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Apply what is queued (bounded wait), then stop the task."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._stopping = True
        self._wake.set()
        with contextlib.suppress(TimeoutError):  # wait_for cancels the runner then
            await asyncio.wait_for(runner, STOP_TIMEOUT)
        left, self._pending = self._pending, []
        for _, future in left:  # charges still queued never ran
            if not future.done():
                future.set_exception(RuntimeError("the server is shutting down; retry"))

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                await self._apply(batch)
                if self._pending:  # a SQLite batch never yields: serve I/O between batches
                    await asyncio.sleep(0)
            await self._purge_if_due()
            if self._stopping:
                return

    async def _purge_if_due(self) -> None:
        """Delete expired idempotency keys, at most once per purge interval."""
        before = self._purge_before
        if before is None or time.monotonic() < self._next_purge:
            return
        self._purge_before = None
        self._next_purge = time.monotonic() + idempotency.PURGE_INTERVAL_SECONDS
        try:
            await self._db.write_batch(purge_keys, before)
        except Exception:  # cleanup only: expired keys are ignored anyway
            log.warning("could not delete expired idempotency keys", exc_info=True)

    async def _write(self, requests: list[ChargeRequest]) -> list[ChargeResult]:
        """The batch in one transaction: on PostgreSQL, when it needs only the money
        rules, as one statement (:mod:`.charge_function`); else :func:`apply_batch`."""
        if self._db.writes_on_driver and charge_function.fits(requests):
            try:
                return await self._db.write_on_driver(charge_function.apply_function, requests)
            except ConnectionLostError:  # did it commit? the ledger says
                return await self._db.write_charges(charge_function.settle_lost, requests)
        return await self._db.write_charges(apply_batch, requests)

    async def _apply(self, batch: list[_Item]) -> None:
        requests = [req for req, _ in batch]
        self.batches_applied += 1
        try:
            try:
                results = await self._write(requests)
            except StalePlanError:
                results = await self._db.write_charges(apply_each_retrying, requests)
        except Exception as exc:  # the whole batch rolled back: nobody was charged
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
