"""The FastAPI application: ``create_app(settings)`` and its lifespan.

Nothing is created at import time. The lifespan builds the :class:`ServerContext`
(database + migrations, task service, worker pool, limiter, recorder), stores it on
``app.state.ctx``, starts the background parts and stops them on shutdown.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from jditem._version import __version__
from jditem.server.api import admin, health, v2, watch
from jditem.server.api import changes as changes_api
from jditem.server.api import history as history_api
from jditem.server.api import webhooks as webhooks_api
from jditem.server.api.envelope import RequestIdMiddleware, install_error_handlers
from jditem.server.clock import Clock, utc_now
from jditem.server.collectors import Collector
from jditem.server.console.mount import mount as mount_console
from jditem.server.context import build_context
from jditem.server.http.access_log import install_redaction
from jditem.server.http.fast_path import FastPathApp
from jditem.server.http.middleware import HeaderCountLimit, NoNulInUrls
from jditem.server.http.security_headers import SecurityHeaders
from jditem.server.jobs.runner import JobRunner
from jditem.server.jobs.watch_scheduler import WatchScheduler
from jditem.server.jobs.webhook_dispatcher import Dispatcher
from jditem.server.settings import Settings
from jditem.server.shared.auth_throttle import AuthThrottle

DESCRIPTION = """\
A self-hostable implementation of the JD.com Product Details V2 contract: one
task-backed endpoint, tokens with budgets, rate limits and daily quotas, a shared
account balance, and health levels. Every response is the envelope
`{code, message, data, recordTime, requestId}`.
"""


def _freeze_startup_objects() -> bool:
    """Move everything alive after startup out of the garbage collector's sight.

    The server's long-lived objects (SQLAlchemy metadata and compiled statements,
    FastAPI routes, pydantic schemas, templates: a few hundred thousand objects) would
    otherwise be traversed by every full collection, which request garbage triggers
    about once a second under load — a 50-90 ms pause of the event loop each time
    (measured with ``benchmarks/server_hot_path.py``). ``gc.freeze()`` is the standard
    remedy; the lifespan undoes it at shutdown. Skipped when something else froze
    objects already (e.g. a pre-fork server).
    """
    if gc.get_freeze_count() > 0:
        return False
    gc.collect()
    gc.freeze()
    return True


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    collector: Collector | None = None,
) -> FastAPI:
    """A new app for ``settings`` (default: from the ``JDITEM_`` environment).

    ``clock`` (a function returning an aware "now") and ``collector`` replace the real
    ones, e.g. a frozen clock in tests.
    """
    settings = settings if settings is not None else Settings()
    clock = clock or utc_now

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.redact_access_log:
            install_redaction()
        ctx = await build_context(settings, clock=clock, collector=collector)
        app.state.ctx = ctx
        # failed credentials: counted in Redis in the scale-out profile (every process)
        app.state.auth_throttle = ctx.shared.share_throttle(app.state.auth_throttle)
        app.state.member_throttle = ctx.shared.share_throttle(app.state.member_throttle)
        await ctx.start()
        jobs = app.state.jobs = JobRunner(ctx.settings, ctx.db, ctx.admission, ctx.clock)
        watch_lists = app.state.watch = WatchScheduler(
            ctx.settings, ctx.db, ctx.admission, ctx.clock
        )
        webhooks = app.state.webhooks = Dispatcher(ctx.settings, ctx.db, ctx.clock)
        frozen = False
        try:
            await jobs.resume_unfinished()
            jobs.watch()  # takes over jobs whose process died
            if ctx.settings.role != "api" and ctx.settings.workers and ctx.settings.watch_scheduler:
                watch_lists.start()  # the worker role; one per deployment, by its lease
            if (
                ctx.settings.role != "api"
                and ctx.settings.workers
                and ctx.settings.webhook_dispatcher
            ):
                webhooks.start()  # the worker role; any number, by endpoint leases
            frozen = _freeze_startup_objects()
            yield
        finally:
            if frozen:
                gc.unfreeze()
            try:
                await webhooks.stop()
                await watch_lists.stop()
                await jobs.stop()
            finally:
                await ctx.stop()

    # v2 GETs take the fast path ahead of FastAPI's layers (http/fast_path.py)
    app = FastPathApp(
        title="jditem server",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # No trailing-slash redirects: their Location would be built from the Host
        # header and repeat the query string (a ?token=); such paths answer 404.
        redirect_slashes=False,
    )
    # Error handlers render the envelope even before the lifespan ran.
    app.state.settings = settings
    app.state.clock = clock
    app.state.auth_throttle = AuthThrottle.from_settings(settings)
    # console sign-in of account members, keyed by e-mail (per address: auth_throttle)
    app.state.member_throttle = AuthThrottle.from_settings(settings, "password")
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(NoNulInUrls, settings=settings)
    app.add_middleware(HeaderCountLimit, settings=settings)
    app.add_middleware(SecurityHeaders)  # every answer, errors included
    install_error_handlers(app)
    app.include_router(v2.router)
    app.include_router(health.router)
    app.include_router(admin.router)
    app.include_router(history_api.router)
    app.include_router(watch.router)
    app.include_router(changes_api.router)
    app.include_router(webhooks_api.router)
    mount_console(app)
    return app
