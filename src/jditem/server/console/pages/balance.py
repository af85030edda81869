"""Balance: accounts, top-ups and the ledger per account, with totals.

Account members see their own account's balance and ledger, read-only; top-ups and
new accounts are for operators (404 for members).
"""

from __future__ import annotations

from collections import defaultdict

from fastapi import APIRouter
from sqlalchemy import func, select
from starlette.responses import Response

from jditem.server.accounts import service
from jditem.server.console import forms
from jditem.server.console.deps import Console, ConsoleDep
from jditem.server.console.paging import PAGE_SIZE, Page, count_capped, page_number
from jditem.server.store.tables import Account, LedgerEntry

router = APIRouter()


async def _totals(console: Console) -> dict[str, dict[str, int]]:
    """Per account name: sum of amounts per ledger kind (charges are negative)."""
    rows = await console.db.execute(
        select(Account.name, LedgerEntry.kind, func.sum(LedgerEntry.amount))
        .join(Account, Account.id == LedgerEntry.account_id)
        .where(console.principal.scope(LedgerEntry.account_id))
        .group_by(Account.name, LedgerEntry.kind)
    )
    totals: dict[str, dict[str, int]] = defaultdict(dict)
    for name, kind, amount in rows:
        totals[name][kind] = int(amount or 0)
    return totals


async def _render(
    console: Console, *, status_code: int = 200, error: str | None = None
) -> Response:
    params = console.request.query_params
    principal = console.principal
    accounts = [a for a in await service.list_accounts(console.db) if principal.sees(a.id)]
    names = {a.name for a in accounts}
    selected = params.get("account", "")
    if not principal.is_operator:
        selected = principal.account_name or ""
    if selected and selected not in names:
        error = error or f"No account named {selected!r}; showing every account."
        selected = ""
    query = select(LedgerEntry.id).where(principal.scope(LedgerEntry.account_id))
    if selected:
        query = query.join(Account, Account.id == LedgerEntry.account_id).where(
            Account.name == selected
        )
    total, capped = await count_capped(console.db, query)
    page = Page(
        page_number(params.get("page")),
        PAGE_SIZE,
        total,
        capped,
        {"account": selected} if selected else {},
    )
    entries = await service.ledger(
        console.db, selected or None, limit=page.size, offset=page.offset
    )
    totals = await _totals(console)
    grand: dict[str, int] = defaultdict(int)
    for per_kind in totals.values():
        for kind, amount in per_kind.items():
            grand[kind] += amount
    return console.render(
        "balance.html",
        status_code=status_code,
        accounts=accounts,
        totals=totals,
        grand=grand,
        entries=entries,
        page=page,
        selected=selected,
        error=error,
    )


@router.get("/balance")
async def balance_page(console: ConsoleDep) -> Response:
    """Balances, ledger totals, and the ledger (optionally of one account)."""
    return await _render(console)


@router.post("/balance/topup")
async def topup(console: ConsoleDep) -> Response:
    """Add money to an account (amount in yuan, exact to 0.0001)."""
    console.require_operator()
    form = await console.form()
    account = forms.text(form, "account")
    try:
        amount = forms.optional_money(form, "amount", "Amount")
        if amount is None:
            raise forms.FormError("Amount is required: the top-up in yuan, e.g. 100 or 12.50")
        note = forms.text(form, "note", max_len=500) or None
        public = await service.topup(console.db, account, amount, note, clock=console.ctx.clock)
    except (forms.FormError, service.AdminError) as exc:
        await console.db.rollback()
        return await _render(console, status_code=400, error=str(exc))
    console.ctx.admission.invalidate()  # every process sees the new balance at once
    return console.redirect(
        "/console/balance", flash=f"Topped up {public.name}: balance is now ¥{public.balance_yuan}."
    )


@router.post("/balance/accounts")
async def create_account(console: ConsoleDep) -> Response:
    """Create an account with an optional opening balance."""
    console.require_operator()
    form = await console.form()
    try:
        name = forms.text(form, "name")
        opening = forms.optional_money(form, "opening", "Opening balance") or 0
        public = await service.create_account(console.db, name, opening, clock=console.ctx.clock)
    except (forms.FormError, service.AdminError) as exc:
        await console.db.rollback()
        return await _render(console, status_code=400, error=str(exc))
    return console.redirect("/console/balance", flash=f"Account {public.name} created.")
