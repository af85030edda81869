"""Health: liveness + database check, and the endpoint's service level (SPEC §2.7).

Health is unauthenticated, so it shows what a caller needs and no operator detail: on a
relay, ``data.upstream`` is the circuit's state, the upstream code that opened it and
the upstream pause (:meth:`~jditem.server.upstream.gateway.Upstream.status`). With the
admin key in ``X-Admin-Key`` it adds the upstream's base URL, the rate in force and
today's upstream spend, certain and possible (a wrong key is refused like on the admin
API, and throttled the same way).
"""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request
from sqlalchemy import text
from starlette.responses import Response

from jditem._version import __version__
from jditem.protocol.codes import Code
from jditem.server.api.admin import require_admin
from jditem.server.api.deps import CtxDep
from jditem.server.api.envelope import envelope_response, request_id_of
from jditem.server.api.models import EnvelopeModel, envelope_responses
from jditem.server.clock import now_utc
from jditem.server.upstream.summary import spend_today

router = APIRouter(tags=["health"])

#: Bound on the database probe of ``/api/health``.
DB_CHECK_SECONDS = 2.0


@router.get(
    "/api/health",
    summary="Liveness and database check",
    response_model=EnvelopeModel,
    responses=envelope_responses(500),
)
async def health(request: Request, ctx: CtxDep) -> Response:
    """Code 0 when the process is up and the database answers; else code 500.

    ``HEAD`` answers the same status and headers without the body (load balancers).
    In the scale-out profile ``data.redis`` is "ok" or "unreachable"; unreachable
    makes ``status`` "degraded" (still code 0: calls are answered, SPEC §2.8).
    """
    request_id = request_id_of(request)
    started = time.perf_counter()
    try:
        async with ctx.db.reading() as session:
            await asyncio.wait_for(session.execute(text("SELECT 1")), DB_CHECK_SECONDS)
        database = "ok"
    except Exception as exc:
        database = f"error: {type(exc).__name__}"
    redis = ctx.shared.redis_status()
    data = {
        "status": "ok" if database == "ok" and redis in (None, "ok") else "degraded",
        "database": database,
        "databaseMs": round((time.perf_counter() - started) * 1000, 2),
        "version": __version__,
        "uptimeSeconds": int((now_utc(ctx.clock) - ctx.started_at).total_seconds()),
        "workers": ctx.settings.workers if ctx.settings.role != "api" else 0,
        "profile": ctx.shared.profile,
    }
    if redis is not None:
        data["redis"] = redis  # "unreachable": limits per process, wake-ups by polling
    if database != "ok":
        return envelope_response(
            ctx.settings,
            ctx.clock,
            request_id,
            Code.INTERNAL_ERROR,
            message="database check failed; see the server log",
            data=data,
        )
    return envelope_response(ctx.settings, ctx.clock, request_id, Code.SUCCESS, data=data)


@router.get(
    "/api/health/jd/get-item-detail/v2",
    summary="Service level of the v2 endpoint",
    response_model=EnvelopeModel,
    description=(
        "`data` = {level, label, successRate, samples, windowSeconds} over the last "
        "`windowSeconds` of this process: success = code 0, failure = 301 or 500. On a "
        "relay, `data.upstream` = {circuit, code, message, retryAfter, pauseSeconds}; "
        "with `X-Admin-Key` also baseUrl, rate and today's spend (certain, possible)."
    ),
)
async def endpoint_health(request: Request, ctx: CtxDep) -> Response:
    """The health level of ``/api/jd/get-item-detail/v2`` (module docstring)."""
    operator = "x-admin-key" in request.headers
    if operator:
        await require_admin(request, ctx)
    report = ctx.health.report()
    data = report.to_wire()
    if ctx.upstream is not None and operator:
        upstream = ctx.upstream.operator_status()
        async with ctx.db.reading() as session:
            upstream["spend"] = await spend_today(session, ctx.settings, now_utc(ctx.clock))
        data["upstream"] = upstream
    elif ctx.upstream is not None:
        data["upstream"] = ctx.upstream.status()
    return envelope_response(
        ctx.settings, ctx.clock, request_id_of(request), Code.SUCCESS, data=data
    )


# HEAD answers the status and headers of GET without the body (load balancers, uptime
# probes); kept out of the OpenAPI document so each path has one operation id.
router.add_api_route("/api/health", health, methods=["HEAD"], include_in_schema=False)
router.add_api_route(
    "/api/health/jd/get-item-detail/v2", endpoint_health, methods=["HEAD"], include_in_schema=False
)
