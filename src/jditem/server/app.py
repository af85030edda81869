"""The FastAPI application: ``create_app(settings)`` and its lifespan.

Nothing is created at import time. The lifespan builds the :class:`ServerContext`
(database + migrations, task service, worker pool, limiter, recorder), stores it on
``app.state.ctx``, starts the background parts and stops them on shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from jditem._version import __version__
from jditem.server.api import admin, health, v2
from jditem.server.api.envelope import RequestIdMiddleware, install_error_handlers
from jditem.server.collectors import Collector
from jditem.server.context import build_context
from jditem.server.logging import install_redaction
from jditem.server.settings import Settings
from jditem.server.tasks.clock import Clock, utc_now

DESCRIPTION = """\
A self-hostable implementation of the JD.com Product Details V2 contract: one
task-backed endpoint, tokens with budgets, rate limits and daily quotas, a shared
account balance, and health levels. Every response is the envelope
`{code, message, data, recordTime, requestId}`.
"""


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
        await ctx.start()
        try:
            yield
        finally:
            await ctx.stop()

    app = FastAPI(
        title="jditem server",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    # Error handlers render the envelope even before the lifespan ran.
    app.state.settings = settings
    app.state.clock = clock
    app.add_middleware(RequestIdMiddleware)
    install_error_handlers(app)
    app.include_router(v2.router)
    app.include_router(health.router)
    app.include_router(admin.router)

    from jditem.server import console

    console.mount(app)
    return app
