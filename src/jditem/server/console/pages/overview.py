"""Overview: balances, calls and spend today and this month, endpoint health, recent
failures — of every account for an operator, of its own account for a member (with its
tokens' budget and quota left)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select
from starlette.responses import RedirectResponse, Response

from jditem.server.accounts import service
from jditem.server.clock import day_start_utc
from jditem.server.console import scopes
from jditem.server.console.deps import ConsoleDep
from jditem.server.console.pages.tokens import token_rows
from jditem.server.console.pages.webhooks import disabled_endpoints
from jditem.server.shared.health import FAILURE_CODES, LEVEL_LABELS
from jditem.server.store.tables import (
    CALL_FAILED,
    ApiToken,
    CallRecord,
    Task,
    UsageHourly,
)

router = APIRouter()

RECENT = 10


@router.get("/")
async def trailing_slash() -> Response:
    """``/console/`` → ``/console`` (a fixed relative target; the query is not repeated)."""
    return RedirectResponse("/console", status_code=308)


@router.get("")
async def overview_page(console: ConsoleDep) -> Response:
    """The landing page of the console."""
    db = console.db
    principal = console.principal
    accounts = [a for a in await service.list_accounts(db) if principal.sees(a.id)]
    today = console.now().astimezone(console.tz).date()
    since = day_start_utc(today, console.tz)
    month_start = day_start_utc(today.replace(day=1), console.tz)
    rows = await db.execute(
        select(UsageHourly.code, func.sum(UsageHourly.calls), func.sum(UsageHourly.spend))
        .where(UsageHourly.hour >= since, scopes.usage(principal))
        .group_by(UsageHourly.code)
    )
    by_code = {int(code): (int(calls or 0), int(spend or 0)) for code, calls, spend in rows}
    calls_today = sum(calls for calls, _spend in by_code.values())
    spend_today = sum(spend for _calls, spend in by_code.values())
    month = (
        await db.execute(
            select(func.sum(UsageHourly.calls), func.sum(UsageHourly.spend)).where(
                UsageHourly.hour >= month_start, scopes.usage(principal)
            )
        )
    ).one()
    failures = (
        await db.execute(
            select(CallRecord, ApiToken.prefix)
            .outerjoin(ApiToken, ApiToken.id == CallRecord.token_id)
            .where(CallRecord.code.in_(sorted(FAILURE_CODES)), CALL_FAILED, scopes.calls(principal))
            .order_by(CallRecord.created_at.desc())
            .limit(RECENT)
        )
    ).all()
    failed_tasks = (
        await db.scalars(
            select(Task)
            .where(Task.status == "failed", scopes.tasks(principal))
            .order_by(Task.finished_at.desc())
            .limit(RECENT)
        )
    ).all()
    token_count = await db.scalar(
        select(func.count()).select_from(ApiToken).where(scopes.tokens(principal))
    )
    return console.render(
        "overview.html",
        accounts=accounts,
        total_balance=sum(a.balance_units for a in accounts),
        calls_today=calls_today,
        spend_today=spend_today,
        calls_month=int(month[0] or 0),
        spend_month=int(month[1] or 0),
        month=today.strftime("%Y-%m"),
        success_today=by_code.get(0, (0, 0))[0],
        by_code=sorted(by_code.items()),
        health=console.ctx.health.report(),
        levels=LEVEL_LABELS,
        failures=failures,
        failed_tasks=failed_tasks,
        token_count=int(token_count or 0),
        token_rows=[] if principal.is_operator else await token_rows(console),
        today=today.isoformat(),
        disabled=await disabled_endpoints(console),
    )
