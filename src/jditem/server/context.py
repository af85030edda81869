"""ServerContext: everything one running app holds, built and torn down by its lifespan.

``app.state.ctx`` is the single place request handlers, the console and background
jobs find the settings, the database, the task service and friends. Nothing here is
created at import time: :func:`build_context` makes it, :meth:`ServerContext.start`
starts the background parts, :meth:`ServerContext.stop` stops them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from jditem.server.accounts.batcher import ChargeBatcher
from jditem.server.accounts.usage import CallRecorder
from jditem.server.admission.pipeline import Admission
from jditem.server.clock import Clock, now_utc, utc_now
from jditem.server.collectors import Collector
from jditem.server.settings import Settings
from jditem.server.shared.broadcast import IDENTITIES, TASK_DONE
from jditem.server.shared.factory import build_shared_state
from jditem.server.shared.health import HealthWindow
from jditem.server.shared.limiter import RateLimiter
from jditem.server.shared.notify import Notifier
from jditem.server.shared.state import SharedState
from jditem.server.store.db import Database, migrate
from jditem.server.tasks.service import TaskService
from jditem.server.tasks.worker import WorkerPool
from jditem.server.upstream.gateway import Upstream


@dataclass
class ServerContext:
    """The resources of one app instance (see the module docstring)."""

    settings: Settings
    db: Database
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock
    notifier: Notifier
    limiter: RateLimiter
    collector: Collector
    tasks: TaskService
    pool: WorkerPool
    recorder: CallRecorder
    health: HealthWindow
    admission: Admission
    charger: ChargeBatcher
    shared: SharedState
    started_at: datetime = field(default_factory=utc_now)
    #: The relay's upstream parts (``collector = relay``), else None.
    upstream: Upstream | None = None

    async def start(self) -> None:
        """Start the shared state, call-record flusher, charge batcher and worker pool."""
        await self.shared.start()
        self.recorder.start()
        self.charger.start()
        self.admission.history.start()
        await self.pool.start()

    async def stop(self) -> None:
        """Stop workers, flush call records, close Redis and the database (each bounded)."""
        try:
            await self.pool.stop()
        finally:
            try:
                if self.upstream is not None:
                    await self.upstream.aclose()
                await self.charger.stop()
                await self.admission.history.stop()
                await self.recorder.stop()
            finally:
                try:
                    await self.shared.stop()
                finally:
                    await self.db.dispose()


async def build_context(
    settings: Settings,
    *,
    clock: Clock | None = None,
    collector: Collector | None = None,
) -> ServerContext:
    """Connect the database, apply migrations, and wire every server part together."""
    clock = clock or utc_now
    db = Database.from_url(settings.effective_database_url)
    await migrate(db.engine)
    shared = build_shared_state(settings)
    notifier = shared.notifier
    limiter = shared.limiter
    upstream: Upstream | None = None
    if collector is None:
        collector, upstream = build_collector(settings, db, clock, limiter)
    if upstream is not None:
        upstream.share(shared.broadcast)  # circuit and pauses across processes
    tasks = TaskService(db.sessionmaker, settings, notifier, clock)
    pool = WorkerPool(
        db.sessionmaker, settings, collector, notifier, clock, write_lock=db.write_lock
    )
    recorder = CallRecorder(
        db,
        flush_seconds=settings.call_record_flush_seconds,
        anonymous_keep=settings.unknown_token_samples,
    )
    health = shared.health
    charger = ChargeBatcher(db)
    admission = Admission(
        settings=settings,
        db=db,
        limiter=limiter,
        tasks=tasks,
        recorder=recorder,
        health=health,
        clock=clock,
        charger=charger,
        circuit=upstream.circuit if upstream is not None else None,
        broadcast=shared.broadcast,
    )
    shared.broadcast.listen(IDENTITIES, lambda _: admission.identities.invalidate())
    # A finished task (in any process) may have replaced the item's row: drop our copy.
    # Listeners run in order, so waiters are signalled first and re-read afterwards.
    shared.broadcast.listen(TASK_DONE, tasks.forget_fresh)
    return ServerContext(
        settings=settings,
        db=db,
        engine=db.engine,
        sessionmaker=db.sessionmaker,
        clock=clock,
        notifier=notifier,
        limiter=limiter,
        collector=collector,
        tasks=tasks,
        pool=pool,
        recorder=recorder,
        health=health,
        admission=admission,
        charger=charger,
        shared=shared,
        started_at=now_utc(clock),
        upstream=upstream,
    )


def build_collector(
    settings: Settings, db: Database, clock: Clock, limiter: RateLimiter
) -> tuple[Collector, Upstream | None]:
    """The collector named by ``settings.collector``, with the relay's upstream parts.

    The relay's upstream budget is a bucket of ``limiter`` (key ``upstream``): shared by
    every worker here, and by every process when the limiter is a shared one.

    Raises ``ValueError`` (e.g. the relay's ``UpstreamConfigError``) with a message that
    says what to set.
    """
    if settings.collector == "relay":
        from jditem.server.collectors.relay import RelayCollector
        from jditem.server.upstream.accounting import UpstreamLedger
        from jditem.server.upstream.circuit import Circuit
        from jditem.server.upstream.rate import AimdRate

        ledger = UpstreamLedger(db, clock)
        rate = AimdRate(
            limiter,
            settings.upstream_rate,
            settings.upstream_burst,
            max_pause=settings.upstream_max_pause_seconds,
        )
        circuit = Circuit(settings.upstream_probe_seconds, on_change=ledger.circuit_changed)
        relay = RelayCollector(settings, rate=rate, circuit=circuit, ledger=ledger)
        return relay, Upstream(relay.base_url, rate, circuit, ledger, relay)
    from jditem.server.collectors.sandbox import SandboxCollector

    return SandboxCollector(settings, clock=clock), None
