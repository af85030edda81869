"""Call records: filter by token, code, item and date range; paginate; export CSV.

An account member sees (and exports) only its own account's records.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter
from sqlalchemy import ColumnElement, select
from starlette.responses import Response, StreamingResponse

from jditem.formats.cells import csv_line
from jditem.protocol.codes import Code
from jditem.protocol.ids import is_valid_item_id
from jditem.server.console import formatting, scopes
from jditem.server.console.deps import Console, ConsoleDep
from jditem.server.console.paging import (
    MAX_ID,
    PAGE_SIZE,
    Page,
    count_capped,
    day_range_utc,
    page_number,
    parse_day,
    parse_int,
)
from jditem.server.store.tables import CALL_FAILED, ApiToken, CallRecord

router = APIRouter()

CSV_COLUMNS = (
    "created_at",
    "request_id",
    "token_prefix",
    "token_name",
    "item_id",
    "code",
    "charged_units",
    "task_id",
    "latency_ms",
)


@dataclass(frozen=True)
class CallFilters:
    """The filters of the call-record list, parsed from the query string."""

    token_id: int | None
    code: int | None
    item_id: str | None
    date_from: str
    date_to: str
    conditions: tuple[ColumnElement[bool], ...]
    query: dict[str, str]


def parse_filters(console: Console) -> CallFilters:
    """Read and validate the filters; raise ``ValueError`` naming the bad one."""
    params = console.request.query_params
    conditions: list[ColumnElement[bool]] = [scopes.calls(console.principal)]
    query: dict[str, str] = {}
    token_id: int | None = None
    code: int | None = None
    item_id: str | None = None
    if raw := params.get("token", "").strip():
        token_id = parse_int(raw, "token", "a token id from the list", most=MAX_ID)
        conditions.append(CallRecord.token_id == token_id)
        query["token"] = raw
    if raw := params.get("code", "").strip():
        code = parse_int(raw, "code", "0 or 302", signed=True)
        conditions.append(CallRecord.code == code)
        if code != 0:  # the partial index of failure codes serves it
            conditions.append(CALL_FAILED)
        query["code"] = raw
    if raw := params.get("item", "").strip():
        if not is_valid_item_id(raw):
            raise ValueError(f"item must be an item id (1-20 digits), not {raw!r}")
        item_id = raw
        conditions.append(CallRecord.item_id == raw)
        query["item"] = raw
    date_from, date_to = params.get("from", "").strip(), params.get("to", "").strip()
    lo, hi = day_range_utc(parse_day(date_from, "from"), parse_day(date_to, "to"), console.tz)
    if lo is not None:
        conditions.append(CallRecord.created_at >= lo)
        query["from"] = date_from
    if hi is not None:
        conditions.append(CallRecord.created_at < hi)
        query["to"] = date_to
    return CallFilters(token_id, code, item_id, date_from, date_to, tuple(conditions), query)


async def _token_choices(console: Console) -> list[tuple[int, str]]:
    rows = await console.db.execute(
        select(ApiToken.id, ApiToken.prefix, ApiToken.name)
        .where(scopes.tokens(console.principal))
        .order_by(ApiToken.id)
    )
    return [(tid, f"{prefix}… {name}".strip()) for tid, prefix, name in rows]


@router.get("/calls")
async def calls_page(console: ConsoleDep) -> Response:
    """The filtered, paginated list of call records."""
    tokens = await _token_choices(console)
    codes = [(int(c), formatting.code_label(int(c))) for c in Code]
    try:
        filters = parse_filters(console)
    except ValueError as exc:
        return console.render(
            "calls.html",
            status_code=400,
            error=str(exc),
            rows=[],
            page=None,
            tokens=tokens,
            codes=codes,
            f=None,
            params=console.request.query_params,
        )
    number = page_number(console.request.query_params.get("page"))
    total, capped = await count_capped(console.db, select(CallRecord.id).where(*filters.conditions))
    page = Page(number, PAGE_SIZE, total, capped, filters.query)
    result = await console.db.execute(
        select(CallRecord, ApiToken.prefix, ApiToken.name)
        .outerjoin(ApiToken, ApiToken.id == CallRecord.token_id)
        .where(*filters.conditions)
        .order_by(CallRecord.created_at.desc(), CallRecord.id.desc())
        .limit(page.size)
        .offset(page.offset)
    )
    rows = [(record, prefix, name) for record, prefix, name in result]
    return console.render(
        "calls.html",
        rows=rows,
        page=page,
        tokens=tokens,
        codes=codes,
        f=filters,
        params=console.request.query_params,
    )


def _iso(value: datetime) -> str:
    return formatting.local_time(value, UTC, "%Y-%m-%dT%H:%M:%S.%fZ")


@router.get("/calls.csv")
async def calls_csv(console: ConsoleDep) -> Response:
    """Every record matching the filters as CSV (streamed; times in UTC; text cells
    spreadsheet-safe, like every CSV the project writes: :mod:`jditem.formats.cells`)."""
    try:
        filters = parse_filters(console)
    except ValueError as exc:
        return Response(f"{exc}\n", status_code=400, media_type="text/plain")
    statement = (
        select(
            CallRecord.created_at,
            CallRecord.request_id,
            ApiToken.prefix,
            ApiToken.name,
            CallRecord.item_id,
            CallRecord.code,
            CallRecord.charged,
            CallRecord.task_id,
            CallRecord.latency_ms,
        )
        .outerjoin(ApiToken, ApiToken.id == CallRecord.token_id)
        .where(*filters.conditions)
        .order_by(CallRecord.created_at.desc(), CallRecord.id.desc())
        .execution_options(yield_per=2000)
    )
    sessionmaker = console.ctx.sessionmaker

    async def lines() -> AsyncIterator[str]:
        yield csv_line(CSV_COLUMNS)
        async with sessionmaker() as db:
            stream = await db.stream(statement)
            async for chunk in stream.partitions():
                yield "".join(csv_line([_iso(row[0]), *row[1:]]) for row in chunk)

    response = StreamingResponse(lines(), media_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = 'attachment; filename="call-records.csv"'
    return response
