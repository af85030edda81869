"""Upstream: the relay's calls and charges (certain, possible) per day next to the callers',
savings, codes and failures, the circuit and the upstream pause."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from jditem.server.clock import now_utc
from jditem.server.console.deps import ConsoleDep
from jditem.server.upstream.summary import summarize

router = APIRouter()


@router.get("/upstream")
async def upstream_page(console: ConsoleDep) -> Response:
    """Upstream calls and charges per day, savings from cache and coalescing, the circuit
    (operators only: it spans every account)."""
    console.require_operator()
    ctx = console.ctx
    summary = await summarize(console.db, ctx.settings, now_utc(ctx.clock))
    return console.render(
        "upstream.html",
        relay=ctx.upstream is not None,
        live=ctx.upstream.operator_status() if ctx.upstream is not None else None,
        summary=summary,
    )
