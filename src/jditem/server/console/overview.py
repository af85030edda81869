"""Overview: balances, today's calls and spend, endpoint health, recent failures."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from sqlalchemy import func, select
from starlette.responses import RedirectResponse, Response

from jditem.server.accounts import service
from jditem.server.accounts.usage import FAILURE_CODES, LEVEL_LABELS
from jditem.server.console.deps import ConsoleDep
from jditem.server.console.paging import day_start_utc
from jditem.server.store.tables import ApiToken, CallRecord, Task, UsageHourly

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
    accounts = await service.list_accounts(db)
    today = datetime.now(UTC).astimezone(console.tz).date()
    since = day_start_utc(today, console.tz)
    rows = await db.execute(
        select(UsageHourly.code, func.sum(UsageHourly.calls), func.sum(UsageHourly.spend))
        .where(UsageHourly.hour >= since)
        .group_by(UsageHourly.code)
    )
    by_code = {int(code): (int(calls or 0), int(spend or 0)) for code, calls, spend in rows}
    calls_today = sum(calls for calls, _spend in by_code.values())
    spend_today = sum(spend for _calls, spend in by_code.values())
    failures = (
        await db.execute(
            select(CallRecord, ApiToken.prefix)
            .outerjoin(ApiToken, ApiToken.id == CallRecord.token_id)
            .where(CallRecord.code.in_(sorted(FAILURE_CODES)))
            .order_by(CallRecord.created_at.desc())
            .limit(RECENT)
        )
    ).all()
    failed_tasks = (
        await db.scalars(
            select(Task)
            .where(Task.status == "failed")
            .order_by(Task.finished_at.desc())
            .limit(RECENT)
        )
    ).all()
    token_count = await db.scalar(select(func.count()).select_from(ApiToken))
    return console.render(
        "overview.html",
        accounts=accounts,
        total_balance=sum(a.balance_units for a in accounts),
        calls_today=calls_today,
        spend_today=spend_today,
        success_today=by_code.get(0, (0, 0))[0],
        by_code=sorted(by_code.items()),
        health=console.ctx.health.report(),
        levels=LEVEL_LABELS,
        failures=failures,
        failed_tasks=failed_tasks,
        token_count=int(token_count or 0),
        today=today.isoformat(),
    )
