"""Watch lists (SPEC §6.2): every list the person may see, one list's items and spend,
and pause / resume.

An account member sees its own account's lists; the operator sees every account's,
with the account named. Another account's list answers 404 like one that does not
exist. Pausing and resuming follow the token rule (:func:`.tokens.may_manage`): the
operator and owners may pause any of the account's lists, a plain member the lists
that run under a token it created.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter
from sqlalchemy import Row, Select, select
from starlette.responses import Response

from jditem.protocol.monitoring import PausedReason, WatchListStatus
from jditem.server.accounts import quota
from jditem.server.accounts.money import yuan_to_units
from jditem.server.console import charts, formatting
from jditem.server.console.deps import Console, ConsoleDep
from jditem.server.console.pages.tokens import may_manage
from jditem.server.console.paging import MAX_ID, PAGE_SIZE, Page, count_capped, page_number
from jditem.server.monitor import events_read, watchlists
from jditem.server.store.tables import Account, ApiToken
from jditem.server.store.watch_tables import WatchItemRow, WatchListRow, WatchSpendRow

router = APIRouter()

#: Days of spend shown on a list's page (today included).
SPEND_DAYS = 30
#: Change events shown on a list's page (the newest; the feed has them all).
RECENT_EVENTS = 10

#: Why a list is paused, in words for the person reading the page (SPEC §6.2 reasons).
PAUSE_WORDS: dict[PausedReason, str] = {
    PausedReason.USER: "paused by a person; nothing is checked until someone resumes it",
    PausedReason.LIST_BUDGET: (
        "the list's daily budget is spent; checks resume tomorrow, or raise the budget"
    ),
    PausedReason.TOKEN_BUDGET: (
        "its token's budget is spent; checks resume when the token's budget is raised"
    ),
    PausedReason.QUOTA: "its token's daily call quota is used up; checks resume tomorrow",
    PausedReason.BALANCE: "the account's balance is too low; checks resume after a top-up",
}


def pause_words(state: WatchListStatus) -> str:
    """Why the list is paused, for a person (``""`` while it is checking)."""
    if not state.paused:
        return ""
    reason = state.paused_reason
    return PAUSE_WORDS[reason] if reason is not None else "paused; the reason was not recorded"


@dataclass(frozen=True)
class ListView:
    """One list as the pages show it."""

    row: WatchListRow
    account: str
    token_prefix: str
    state: WatchListStatus
    why_paused: str
    manageable: bool

    @property
    def spent_today(self) -> int:
        """Today's spend in units (the status carries exact yuan)."""
        return yuan_to_units(self.state.spent_today)


async def _views(
    console: Console, rows: Sequence[Row[WatchListRow, str, str, int | None]]
) -> list[ListView]:
    views = []
    for row, account, prefix, creator in rows:
        state = await watchlists.status(console.db, row, console.now(), console.settings.timezone)
        views.append(
            ListView(
                row,
                account,
                prefix,
                state,
                pause_words(state),
                may_manage(console.principal, creator),
            )
        )
    return views


def _lists_query(console: Console) -> Select[WatchListRow, str, str, int | None]:
    return (
        select(WatchListRow, Account.name, ApiToken.prefix, ApiToken.created_by_member_id)
        .join(Account, Account.id == WatchListRow.account_id)
        .join(ApiToken, ApiToken.id == WatchListRow.token_id)
        .where(console.principal.scope(WatchListRow.account_id))
    )


async def _one(console: Console, list_id: str) -> ListView | None:
    """The list if the signed-in person may see it (else ``None``, like a missing one)."""
    if not (list_id.isascii() and list_id.isdigit()) or len(list_id) > 10:
        return None
    if int(list_id) > MAX_ID:
        return None
    found = (
        await console.db.execute(_lists_query(console).where(WatchListRow.id == int(list_id)))
    ).first()
    if found is None:
        return None
    return (await _views(console, [found]))[0]


def _not_found(console: Console, list_id: str) -> Response:
    return console.not_found(
        f"There is no watch list {list_id[:20]!r} in your account.",
        "/console/watch",
        "Back to the watch lists",
    )


@router.get("/watch")
async def watch_page(console: ConsoleDep) -> Response:
    """The lists the person may see, with their status and pause / resume."""
    principal = console.principal
    query = _lists_query(console)
    total, capped = await count_capped(console.db, query.with_only_columns(WatchListRow.id))
    page = Page(page_number(console.request.query_params.get("page")), PAGE_SIZE, total, capped, {})
    rows = (
        await console.db.execute(
            query.order_by(Account.name, WatchListRow.name).limit(page.size).offset(page.offset)
        )
    ).all()
    views = await _views(console, rows)
    return console.render("watch.html", lists=views, page=page, show_account=principal.is_operator)


def _spend_days(today: date, spent: dict[str, tuple[int, int]]) -> list[tuple[str, int, int]]:
    """(day, spent units, checks) for the last :data:`SPEND_DAYS` days, oldest first."""
    days = [(today - timedelta(days=back)).isoformat() for back in range(SPEND_DAYS - 1, -1, -1)]
    return [(day, *spent.get(day, (0, 0))) for day in days]


@router.get("/watch/{list_id}")
async def list_page(list_id: str, console: ConsoleDep) -> Response:
    """One list: its status, its items (paged) and its spend per day."""
    view = await _one(console, list_id)
    if view is None:
        return _not_found(console, list_id)
    db, row = console.db, view.row
    items_query = select(WatchItemRow).where(WatchItemRow.list_id == row.id)
    page = Page(
        page_number(console.request.query_params.get("page")),
        PAGE_SIZE,
        view.state.items,
        False,
        {},
    )
    items = (
        await db.scalars(
            items_query.order_by(WatchItemRow.item_id).limit(page.size).offset(page.offset)
        )
    ).all()
    today = date.fromisoformat(quota.local_day(console.now(), console.settings.timezone))
    first = (today - timedelta(days=SPEND_DAYS - 1)).isoformat()
    spent = {
        day: (int(units), int(checks))
        for day, units, checks in await db.execute(
            select(WatchSpendRow.day, WatchSpendRow.spent, WatchSpendRow.checks).where(
                WatchSpendRow.list_id == row.id, WatchSpendRow.day >= first
            )
        )
    }
    days = _spend_days(today, spent)
    chart = charts.stacked_bars(
        [day[5:] for day, _units, _checks in days],
        [charts.Series("Spent", [units for _day, units, _checks in days], color=charts.PALETTE[0])],
        title=f"Spend per day of watch list {row.name}, last {SPEND_DAYS} days",
        fmt=formatting.money,
        height=200,
    )
    events = await events_read.latest(
        db,
        row.account_id,
        RECENT_EVENTS,
        list_id=row.id,
        list_since=events_read.floor_id(row.created_at),
    )
    account = "?" + urlencode({"account": view.account}) if console.principal.is_operator else ""
    return console.render(
        "watch_list.html",
        view=view,
        items=items,
        page=page,
        days=list(reversed(days)),
        chart=chart,
        events=events,
        item_query=account,
        show_account=console.principal.is_operator,
    )


async def _set_paused(console: Console, list_id: str, pause: bool) -> Response:
    view = await _one(console, list_id)
    if view is None:
        return _not_found(console, list_id)
    await console.form()  # CSRF
    name = view.row.name
    if not view.manageable:
        return console.render(
            "message.html",
            status_code=403,
            heading="Not allowed",
            message=(
                f"Watch list {name} runs under a token another member created; only that "
                "member or an owner of the account can pause or resume it. Ask an owner."
            ),
            link=f"/console/watch/{view.row.id}",
            link_label="Back to the list",
        )
    already = view.row.paused == pause and (
        not pause or view.row.paused_reason == PausedReason.USER.value
    )
    if already:
        flash = f"Watch list {name} was {'paused already' if pause else 'not paused'}."
    else:
        async with console.ctx.db.writing() as session:
            await watchlists.set_paused(
                session, view.row.id, PausedReason.USER if pause else None, console.now()
            )
        flash = f"Watch list {name} {'paused' if pause else 'resumed'}."
    back = console.request.query_params.get("back") == "list"
    return console.redirect(f"/console/watch/{view.row.id}" if back else "/console/watch", flash)


@router.post("/watch/{list_id}/pause")
async def pause(list_id: str, console: ConsoleDep) -> Response:
    """Pause the list (reason ``user``): no checks until someone resumes it."""
    return await _set_paused(console, list_id, True)


@router.post("/watch/{list_id}/resume")
async def resume(list_id: str, console: ConsoleDep) -> Response:
    """Resume the list, whatever paused it (checks start again at each item's slot)."""
    return await _set_paused(console, list_id, False)
