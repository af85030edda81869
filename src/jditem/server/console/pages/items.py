"""An item's page (SPEC §6.1): its price chart and its change points, as one account
received them.

An account member sees its own account's history; the operator picks the account with
``?account=`` (without it: the accounts that have the item, to choose from). An item
the account neither has history of nor watches answers 404, exactly like another
account's item (SPEC §2.9): a member cannot learn that another account has it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from fastapi import APIRouter
from markupsafe import Markup
from sqlalchemy import select, union
from starlette.responses import Response

from jditem.protocol.ids import is_valid_item_id
from jditem.server.console.deps import Console, ConsoleDep
from jditem.server.console.paging import PAGE_SIZE, Page, page_number
from jditem.server.monitor.chart import price_chart
from jditem.server.monitor.history_read import read_history
from jditem.server.monitor.tracked import ChangePoint
from jditem.server.store.tables import Account, HistoryPoint
from jditem.server.store.watch_tables import WatchItemRow, WatchListRow

router = APIRouter()


@dataclass(frozen=True)
class ChangeRow:
    """One change point as the table shows it (texts escaped by the template)."""

    valid_from: datetime
    confirmed_until: datetime
    price: str
    promo: str
    original: str
    stock: str
    promotions: tuple[str, ...]
    title: str
    title_changed: bool


def _money(value: Decimal | None) -> str:
    return "—" if value is None else f"¥{value}"


def _stock(point: ChangePoint) -> str:
    state = point.state
    words = {True: "in stock", False: "out of stock", None: "unknown"}[state.in_stock]
    if state.on_sale is False:
        words += ", off sale"
    return words


def change_rows(points: Sequence[ChangePoint]) -> list[ChangeRow]:
    """The points newest first, with whether each changed the title."""
    rows = []
    for i, point in enumerate(points):
        state = point.state
        if state.price_masked:
            price = "hidden by JD" + (
                f" (last shown ¥{state.known_price})" if state.known_price else ""
            )
        else:
            price = _money(state.price_current)
        rows.append(
            ChangeRow(
                point.valid_from,
                point.last_confirmed_at,
                price,
                _money(state.price_promo),
                _money(state.price_original),
                _stock(point),
                state.promotion_texts,
                state.title,
                i > 0 and state.title != points[i - 1].state.title,
            )
        )
    rows.reverse()
    return rows


async def _accounts_with(console: Console, item_id: str) -> list[tuple[int, str]]:
    """(id, name) of the accounts the person may see that have history of or watch the item."""
    principal = console.principal
    held = union(
        select(HistoryPoint.account_id).where(
            HistoryPoint.item_id == item_id, principal.scope(HistoryPoint.account_id)
        ),
        select(WatchItemRow.account_id).where(
            WatchItemRow.item_id == item_id, principal.scope(WatchItemRow.account_id)
        ),
    ).subquery()
    rows = await console.db.execute(
        select(Account.id, Account.name)
        .where(Account.id.in_(select(held.c.account_id)))
        .order_by(Account.name)
    )
    return [(int(i), str(n)) for i, n in rows]


def _not_found(console: Console, item_id: str) -> Response:
    return console.not_found(
        f"Your account has no history of item {item_id[:40]!r} and does not watch it. "
        "Items get a history once a call or a watch list fetched them.",
        "/console/watch",
        "Back to the watch lists",
    )


@router.get("/items/{item_id}")
async def item_page(item_id: str, console: ConsoleDep) -> Response:
    """The item's price chart and change table for one account."""
    if not is_valid_item_id(item_id):
        return _not_found(console, item_id)
    accounts = await _accounts_with(console, item_id)  # a member: its own account, or none
    operator = console.principal.is_operator
    wanted = console.request.query_params.get("account", "")
    if operator and wanted:
        accounts = [a for a in accounts if a[1] == wanted]
    elif operator and len(accounts) > 1:
        return console.render("item_accounts.html", item_id=item_id, accounts=accounts)
    if not accounts:
        return _not_found(console, item_id)
    account_id, account = accounts[0]
    history = await read_history(console.db, account_id, item_id)
    points = history.points
    title = points[-1].state.title if points else ""
    chart = price_chart(
        points,
        end=console.now(),
        tz=console.tz,
        title=f"Price of item {item_id}" + (f": {title}" if title else ""),
    )
    lists = (
        await console.db.execute(
            select(WatchListRow.id, WatchListRow.name)
            .join(WatchItemRow, WatchItemRow.list_id == WatchListRow.id)
            .where(WatchItemRow.item_id == item_id, WatchItemRow.account_id == account_id)
            .order_by(WatchListRow.name)
        )
    ).all()
    rows = change_rows(points)
    query = {"account": account} if operator else {}
    page = Page(
        page_number(console.request.query_params.get("page")), PAGE_SIZE, len(rows), False, query
    )
    return console.render(
        "item.html",
        item_id=item_id,
        title=title,
        account=account,
        show_account=operator,
        chart=Markup(chart),  # noqa: S704 - price_chart escapes every text it draws
        changes=rows[page.offset : page.offset + page.size],
        page=page,
        has_more=history.has_more,
        lists=lists,
    )
