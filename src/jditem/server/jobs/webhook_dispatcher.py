"""The webhook dispatcher (SPEC §6.3): the outbox → signed POSTs, at least once.

Runs in the worker role of every process that has it (in-process with ``jditem
serve``; in each ``jditem worker`` in scale-out). Any number may run: the unit of work
is an **endpoint lease** — a conditional UPDATE of ``webhook_endpoints.busy_owner /
busy_until`` that succeeds for one process only — so each endpoint has at most one
delivery in flight across the deployment, and each attempt is made by one process.

A :meth:`Dispatcher.tick` finds endpoints with due deliveries (the index on
``(status, next_attempt_at)``: O(due)), takes the lease of as many as it has free slots
(``webhook_concurrency``, the global bound of a process), and serves each in its own
task: its due deliveries oldest first, one at a time, renewing the lease after each. A
hanging endpoint so holds one slot and its own lease — never another endpoint's.

Each attempt (:func:`.sending.deliver`: vetted again by the SSRF guard, signed with the
endpoint's active secrets, bounded) is logged, and decides:

* 2xx → ``delivered``;
* 410 → ``failed``, and the endpoint is disabled (the receiver said it is gone);
* anything else (a refusal by the guard included) → retried at
  :meth:`.backoff.RetrySchedule.next_attempt` (seed: the event id); when the retries are
  used up → ``failed``, and the endpoint is disabled with the reason.

A lease lasts an attempt's time limit plus ``lease_seconds`` and is renewed after each
delivery. A process that dies mid-delivery holds its lease until ``busy_until``; then another
takes the endpoint, and the delivery — still pending and due — is attempted again (at
least once; the receiver deduplicates on ``webhook-id``). A disabled endpoint's pending
deliveries wait; enabling it sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from datetime import datetime, timedelta

from sqlalchemy import func, insert, or_, select, update

from jditem.server.clock import Clock, now_utc
from jditem.server.jobs.leases import new_owner
from jditem.server.monitor import apprise_channel
from jditem.server.monitor.apprise_channel import is_apprise
from jditem.server.monitor.backoff import RetrySchedule
from jditem.server.monitor.endpoints import lock_for_attempt, secrets_of
from jditem.server.monitor.outbox import DELIVERED, FAILED, PENDING
from jditem.server.monitor.sealing import SecretBox, SecretUnreadable
from jditem.server.monitor.sending import DeliveryResult, deliver
from jditem.server.monitor.signing import signature_headers
from jditem.server.monitor.ssrf import TargetGuard
from jditem.server.settings import Settings
from jditem.server.store.db import Database
from jditem.server.store.sql import rowcount
from jditem.server.store.webhook_tables import (
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
)

log = logging.getLogger("jditem.server.webhooks")

#: Deliveries one endpoint lease serves before the endpoint goes back to the pool.
PER_LEASE = 50


class Dispatcher:
    """See the module docstring. ``start``/``stop`` run the loop; ``tick`` is one pass."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        clock: Clock,
        *,
        box: SecretBox | None = None,
        guard: TargetGuard | None = None,
        owner: str | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._clock = clock
        self.box = box or SecretBox.from_settings(settings)
        self.guard = guard or TargetGuard.from_settings(settings)
        self.schedule = RetrySchedule(multiplier=settings.webhook_retry_multiplier)
        self.owner = owner or new_owner()
        # an attempt's own time limit, plus the leases' margin (``lease_seconds``)
        self.lease = timedelta(seconds=settings.webhook_timeout_seconds + settings.lease_seconds)
        #: Ticks made so far (tests wait on it instead of sleeping).
        self.ticks = 0
        self._serving: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    # -- the loop ----------------------------------------------------------------------

    def start(self) -> None:
        """Run the loop in the background (idempotent)."""
        if self._loop_task is None:
            self._loop_task = asyncio.get_running_loop().create_task(
                self._run(), name="webhook-dispatcher"
            )

    async def stop(self) -> None:
        """Stop the loop and the deliveries in flight; give the leases back (bounded)."""
        tasks = [t for t in (self._loop_task, *self._serving.values()) if t is not None]
        self._loop_task = None
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._release_all(), 5.0)

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # the database may be away for a moment: try again
                log.warning("webhook dispatcher: a tick failed", exc_info=True)
            self.ticks += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.webhook_poll_seconds)
            self._wake.clear()

    async def tick(self) -> int:
        """Take the leases of endpoints with due deliveries, up to the free slots, and
        start serving each; returns how many were taken."""
        free = self._settings.webhook_concurrency - len(self._serving)
        if free <= 0:
            return 0
        now = now_utc(self._clock)
        taken = 0
        for endpoint_id in await self._due_endpoints(now, free):
            if not await self.claim(endpoint_id, now):
                continue
            task = asyncio.get_running_loop().create_task(
                self._serve(endpoint_id), name=f"webhook-endpoint-{endpoint_id}"
            )
            self._serving[endpoint_id] = task
            task.add_done_callback(functools.partial(self._done, endpoint_id))
            taken += 1
        return taken

    @property
    def serving(self) -> frozenset[int]:
        """The endpoints this dispatcher is delivering to now (tests wait on it)."""
        return frozenset(self._serving)

    def _done(self, endpoint_id: int, _task: asyncio.Task[None]) -> None:
        self._serving.pop(endpoint_id, None)
        self._wake.set()

    # -- leases ------------------------------------------------------------------------

    async def _due_endpoints(self, now: datetime, limit: int) -> list[int]:
        first_due = func.min(WebhookDeliveryRow.next_attempt_at)
        query = (
            select(WebhookDeliveryRow.endpoint_id)
            .join(WebhookEndpointRow, WebhookEndpointRow.id == WebhookDeliveryRow.endpoint_id)
            .where(
                WebhookDeliveryRow.status == PENDING,
                WebhookDeliveryRow.next_attempt_at <= now,
                WebhookEndpointRow.enabled,
                or_(WebhookEndpointRow.busy_until.is_(None), WebhookEndpointRow.busy_until < now),
            )
            .group_by(WebhookDeliveryRow.endpoint_id)
            .order_by(first_due)
            .limit(limit + len(self._serving))
        )
        async with self._db.reading() as session:
            found = (await session.scalars(query)).all()
        return [e for e in found if e not in self._serving][:limit]

    async def claim(self, endpoint_id: int, now: datetime) -> bool:
        """Take the lease of ``endpoint_id`` if it is enabled and no live process holds it."""
        async with self._db.writing() as session:
            taken = rowcount(
                await session.execute(
                    update(WebhookEndpointRow)
                    .where(
                        WebhookEndpointRow.id == endpoint_id,
                        WebhookEndpointRow.enabled,
                        or_(
                            WebhookEndpointRow.busy_until.is_(None),
                            WebhookEndpointRow.busy_until < now,
                        ),
                    )
                    .values(busy_owner=self.owner, busy_until=now + self.lease)
                    .execution_options(synchronize_session=False)
                )
            )
        return taken == 1

    async def _hold(self, endpoint_id: int, until: datetime | None) -> bool:
        """Renew (``until``) or give back (None) the lease; False when it is not ours."""
        async with self._db.writing() as session:
            values = {"busy_until": until, "busy_owner": self.owner if until else None}
            return (
                rowcount(
                    await session.execute(
                        update(WebhookEndpointRow)
                        .where(
                            WebhookEndpointRow.id == endpoint_id,
                            WebhookEndpointRow.busy_owner == self.owner,
                        )
                        .values(**values)
                        .execution_options(synchronize_session=False)
                    )
                )
                == 1
            )

    async def _release_all(self) -> None:
        async with self._db.writing() as session:
            await session.execute(
                update(WebhookEndpointRow)
                .where(WebhookEndpointRow.busy_owner == self.owner)
                .values(busy_owner=None, busy_until=None)
                .execution_options(synchronize_session=False)
            )

    # -- deliveries --------------------------------------------------------------------

    async def _serve(self, endpoint_id: int) -> None:
        try:
            for _ in range(PER_LEASE):
                delivery = await self._next_due(endpoint_id, now_utc(self._clock))
                if delivery is None:
                    break
                if not await self.attempt(endpoint_id, delivery):
                    break  # the endpoint was disabled
                if not await self._hold(endpoint_id, now_utc(self._clock) + self.lease):
                    return  # the lease went to another process
        except Exception:
            log.warning("webhook dispatcher: endpoint %s failed", endpoint_id, exc_info=True)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._hold(endpoint_id, None))

    async def _next_due(self, endpoint_id: int, now: datetime) -> WebhookDeliveryRow | None:
        async with self._db.reading() as session:
            return await session.scalar(
                select(WebhookDeliveryRow)
                .where(
                    WebhookDeliveryRow.endpoint_id == endpoint_id,
                    WebhookDeliveryRow.status == PENDING,
                    WebhookDeliveryRow.next_attempt_at <= now,
                )
                .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id)
                .limit(1)
            )

    async def attempt(self, endpoint_id: int, delivery: WebhookDeliveryRow) -> bool:
        """Make one attempt of ``delivery`` and record it; False when it disabled the endpoint."""
        async with self._db.reading() as session:
            endpoint = await session.get(WebhookEndpointRow, endpoint_id)
        if endpoint is None:
            return False
        body = delivery.body.encode()
        started = now_utc(self._clock)
        try:
            active = secrets_of(self.box, endpoint).active(started)
        except SecretUnreadable as exc:
            result = DeliveryResult(None, 0.0, "", None, str(exc))
            return await self._record(delivery, started, result, unreadable=True)
        if is_apprise(endpoint.url):  # a chat or mail channel (optional extra)
            result = await apprise_channel.send(
                endpoint.url,
                json.loads(body),
                guard=self.guard,
                time_limit=self._settings.webhook_timeout_seconds,
            )
            return await self._record(delivery, started, result)
        headers = signature_headers(delivery.event_id, body, active, timestamp=started)
        result = await deliver(
            endpoint.url,
            headers,
            body,
            guard=self.guard,
            time_limit=self._settings.webhook_timeout_seconds,
            max_response_bytes=self._settings.webhook_max_response_bytes,
        )
        return await self._record(delivery, started, result)

    async def _record(
        self,
        delivery: WebhookDeliveryRow,
        at: datetime,
        result: DeliveryResult,
        *,
        unreadable: bool = False,
    ) -> bool:
        now = now_utc(self._clock)
        number = delivery.attempts + 1
        error = (
            str(result.error) if result.error is not None else ("secret" if unreadable else None)
        )
        values: dict[str, object] = {
            "attempts": WebhookDeliveryRow.attempts + 1,
            "last_status": result.status,
            "last_error": error,
        }
        disable: str | None = None
        if result.ok and not unreadable:
            values.update(status=DELIVERED, finished_at=now)
        elif result.status == 410:
            values.update(status=FAILED, finished_at=now)
            disable = "the receiver answered 410 Gone"
        else:
            retry = self.schedule.next_attempt(number, now, delivery.event_id)
            if retry is None:
                values.update(status=FAILED, finished_at=now)
                first = delivery.created_at
                disable = (
                    f"{number} attempts failed over {(now - first).total_seconds() / 3600:.1f} h "
                    f"(last: {result.detail or error})"
                )[:300]
            else:
                values["next_attempt_at"] = retry
        async with self._db.writing() as session:
            if not await lock_for_attempt(session, delivery.endpoint_id):
                return False  # removed meanwhile, with its deliveries: nothing to record
            await session.execute(
                insert(WebhookAttemptRow).values(
                    delivery_id=delivery.id,
                    at=at,
                    status_code=result.status,
                    latency_ms=round(result.latency * 1000),
                    excerpt=result.excerpt,
                    error_kind=error,
                    detail=result.detail,
                )
            )
            await session.execute(
                update(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.id == delivery.id, WebhookDeliveryRow.status == PENDING)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if disable is not None:
                await session.execute(
                    update(WebhookEndpointRow)
                    .where(WebhookEndpointRow.id == delivery.endpoint_id)
                    .values(enabled=False, disabled_reason=disable, disabled_at=now)
                    .execution_options(synchronize_session=False)
                )
        if disable is not None:
            log.warning("webhook endpoint %s disabled: %s", delivery.endpoint_id, disable)
        return disable is None
