"""Webhook endpoints (SPEC §6.3): the account's endpoints, add / rotate / enable / remove,
and one endpoint's deliveries with their attempt log, replay and "send test event".

An account member sees its own account's endpoints, the operator every account's, with
the account named; another account's endpoint or delivery answers 404 like a missing
one. Any member may add an endpoint; changing one follows the token rule
(:func:`.tokens.may_manage`): the operator, the account's owners and the member who
created it (in the console, or through the API with a token it created); the others
see it read-only, "created by another member" (403 if they post anyway). A
secret (``whsec_…``) is on the page that answers ``add`` or ``rotate``, that once only
(``Cache-Control: no-store``), and never logged. A disabled endpoint (a 410, or its
retries ran out) is shown with its reason on this page and on the overview.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from pydantic import SecretStr
from sqlalchemy import select
from starlette.responses import Response

from jditem.server.console import forms
from jditem.server.console.deps import Console, ConsoleDep, NotFoundPage
from jditem.server.console.pages.tokens import may_manage
from jditem.server.console.paging import MAX_ID
from jditem.server.monitor import endpoints, outbox, watchlists
from jditem.server.monitor.endpoints import KINDS, EndpointError
from jditem.server.monitor.sealing import SecretBox
from jditem.server.monitor.ssrf import TargetGuard, TargetRefused
from jditem.server.monitor.watchlists import WatchError
from jditem.server.store.tables import Account
from jditem.server.store.watch_tables import WatchListRow
from jditem.server.store.webhook_tables import WebhookDeliveryRow, WebhookEndpointRow

router = APIRouter()

#: Deliveries per page of an endpoint's log.
DELIVERIES_PER_PAGE = 25
#: How long a rotated-out secret keeps signing too (the API's default).
ROTATE_OVERLAP = timedelta(days=1)


async def disabled_endpoints(console: Console) -> list[tuple[WebhookEndpointRow, str]]:
    """The disabled endpoints the person may see, with their account (the overview's banner)."""
    rows = await console.db.execute(
        select(WebhookEndpointRow, Account.name)
        .join(Account, Account.id == WebhookEndpointRow.account_id)
        .where(WebhookEndpointRow.enabled.is_(False))
        .where(console.principal.scope(WebhookEndpointRow.account_id))
        .order_by(WebhookEndpointRow.id)
    )
    return [(row, name) for row, name in rows]


def _parts(console: Console) -> tuple[SecretBox, TargetGuard]:
    dispatcher = console.request.app.state.webhooks
    box: SecretBox = dispatcher.box
    guard: TargetGuard = dispatcher.guard
    return box, guard


async def _list_names(console: Console, list_ids: set[int]) -> dict[int, str]:
    if not list_ids:
        return {}
    rows = await console.db.execute(
        select(WatchListRow.id, WatchListRow.name).where(WatchListRow.id.in_(list_ids))
    )
    return {int(i): str(name) for i, name in rows}


async def _render_list(
    console: Console,
    *,
    status_code: int = 200,
    error: str | None = None,
    draft: dict[str, Any] | None = None,
    secret: tuple[WebhookEndpointRow, SecretStr, str] | None = None,
) -> Response:
    """The endpoints page; ``secret`` (endpoint, secret, what happened) shown this once."""
    principal = console.principal
    rows = (
        await console.db.execute(
            select(WebhookEndpointRow, Account.name)
            .join(Account, Account.id == WebhookEndpointRow.account_id)
            .where(principal.scope(WebhookEndpointRow.account_id))
            .order_by(Account.name, WebhookEndpointRow.id)
        )
    ).all()
    names = await _list_names(console, {i for row, _a in rows for i in row.lists or []})
    response = console.render(
        "webhooks.html",
        status_code=status_code,
        rows=rows,
        disabled=[(row, account) for row, account in rows if not row.enabled],
        list_names=names,
        kinds=sorted(KINDS),
        error=error,
        draft=draft or {"account": principal.account_name or "", "kinds": []},
        new_secret=secret,
        manageable={row.id for row, _a in rows if may_manage(principal, row.created_by_member_id)},
        show_account=principal.is_operator,
    )
    if secret is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/webhooks")
async def webhooks_page(console: ConsoleDep) -> Response:
    """The endpoints the person may see, their state, and the add form."""
    return await _render_list(console)


def _refuse_change(console: Console, row: WebhookEndpointRow) -> Response | None:
    """``None`` when the person may change ``row`` (visible to it); else the 403 page."""
    if may_manage(console.principal, row.created_by_member_id):
        return None
    by = "the operator" if row.created_by_member_id is None else "another member"
    return console.render(
        "message.html",
        status_code=403,
        heading="Not your webhook endpoint",
        message=f"Webhook endpoint {row.id} was created by {by}: only its creator or an "
        "owner of the account can change it. Ask an owner, or add an endpoint of your own.",
        link=f"/console/webhooks/{row.id}",
        link_label="Back to the endpoint",
    )


async def _account_id(console: Console, name: str) -> int:
    principal = console.principal
    if not principal.is_operator and principal.account_id is not None:
        return principal.account_id  # a member's endpoint is always its own account's
    found = await console.db.scalar(select(Account.id).where(Account.name == name))
    if found is None:
        raise forms.FormError(f"no account {name[:100]!r}; type the name of an existing account")
    return int(found)


@router.post("/webhooks")
async def add_endpoint(console: ConsoleDep) -> Response:
    """Add an endpoint (URL vetted by the SSRF guard), recorded as the person's; its
    secret is shown this once."""
    form = await console.form()
    url = forms.text(form, "url", max_len=2048)
    description = forms.text(form, "description", max_len=200)
    list_names = forms.text(form, "lists", max_len=2000)
    kinds = [k for k in form.getlist("kinds") if isinstance(k, str)][:40]
    account = forms.text(form, "account")
    draft = {
        "url": url,
        "description": description,
        "lists": list_names,
        "kinds": kinds,
        "account": account,
    }
    box, guard = _parts(console)
    try:
        if not url:
            raise forms.FormError("URL: enter the https:// URL of your receiver")
        account_id = await _account_id(console, account)
        await guard.vet(url)
        async with console.ctx.db.writing() as session:
            names = [n.strip() for n in list_names.split(",") if n.strip()]
            lists = [(await watchlists.find(session, account_id, n)).id for n in names]
            row, secret = await endpoints.create(
                session,
                box,
                account_id=account_id,
                url=url,
                lists=lists,
                kinds=kinds,
                description=description,
                now=console.now(),
                created_by_member_id=console.principal.member_id,
            )
    except TargetRefused as exc:
        return await _render_list(
            console, status_code=400, error=f"URL refused: {exc.message}", draft=draft
        )
    except (forms.FormError, EndpointError, WatchError) as exc:
        return await _render_list(console, status_code=400, error=str(exc), draft=draft)
    return await _render_list(console, secret=(row, secret, "added"))


def _id(raw: str) -> int:
    """A path's id; anything but one the database could hold is a missing object (404)."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10 and 0 < int(raw) <= MAX_ID):
        raise NotFoundPage()
    return int(raw)


async def _visible(console: Console, raw_id: str) -> tuple[WebhookEndpointRow, str]:
    """The endpoint and its account's name if the person may see it (else 404)."""
    endpoint_id = _id(raw_id)
    found = (
        await console.db.execute(
            select(WebhookEndpointRow, Account.name)
            .join(Account, Account.id == WebhookEndpointRow.account_id)
            .where(WebhookEndpointRow.id == endpoint_id)
            .where(console.principal.scope(WebhookEndpointRow.account_id))
        )
    ).first()
    if found is None:
        raise NotFoundPage()
    return found[0], found[1]


async def _for_change(console: Console, endpoint_id: str) -> WebhookEndpointRow | Response:
    await console.form()  # CSRF
    row, _account = await _visible(console, endpoint_id)
    return _refuse_change(console, row) or row


@router.post("/webhooks/{endpoint_id}/rotate")
async def rotate(endpoint_id: str, console: ConsoleDep) -> Response:
    """A new secret, shown this once; the old one keeps signing for a day."""
    row = await _for_change(console, endpoint_id)
    if isinstance(row, Response):
        return row
    async with console.ctx.db.writing() as session:
        secret, _until = await endpoints.rotate(
            session, _parts(console)[0], row, console.now(), ROTATE_OVERLAP
        )
    return await _render_list(console, secret=(row, secret, "rotated"))


@router.post("/webhooks/{endpoint_id}/enable")
async def enable(endpoint_id: str, console: ConsoleDep) -> Response:
    """Enable a disabled endpoint; its pending deliveries go out again."""
    row = await _for_change(console, endpoint_id)
    if isinstance(row, Response):
        return row
    async with console.ctx.db.writing() as session:
        await endpoints.enable(session, row)
    return console.redirect("/console/webhooks", f"Webhook endpoint {row.id} enabled.")


@router.post("/webhooks/{endpoint_id}/remove")
async def remove(endpoint_id: str, console: ConsoleDep) -> Response:
    """Remove the endpoint with its pending deliveries and its delivery log."""
    row = await _for_change(console, endpoint_id)
    if isinstance(row, Response):
        return row
    async with console.ctx.db.writing() as session:
        await endpoints.remove(session, row)
    return console.redirect("/console/webhooks", f"Webhook endpoint {row.id} removed.")


@router.get("/webhooks/{endpoint_id}")
async def deliveries_page(endpoint_id: str, console: ConsoleDep) -> Response:
    """The endpoint's deliveries, newest first, a page at a time, each with its attempts."""
    row, account = await _visible(console, endpoint_id)
    raw = console.request.query_params.get("before", "")
    before = _id(raw) if raw else None
    found = await endpoints.deliveries(console.db, row.id, DELIVERIES_PER_PAGE + 1, before=before)
    shown = found[:DELIVERIES_PER_PAGE]
    older = shown[-1][0].id if len(found) > DELIVERIES_PER_PAGE else None
    names = await _list_names(console, set(row.lists or []))
    return console.render(
        "webhook.html",
        endpoint=row,
        account=account,
        deliveries=shown,
        older=older,
        newest_page=before is None,
        list_names=names,
        may_change=may_manage(console.principal, row.created_by_member_id),
        show_account=console.principal.is_operator,
    )


@router.post("/webhooks/{endpoint_id}/test")
async def send_test(endpoint_id: str, console: ConsoleDep) -> Response:
    """Queue a ``webhook.test`` event for the endpoint (as ``POST /api/webhooks/{id}/test``
    does); it shows in the deliveries below once queued."""
    row = await _for_change(console, endpoint_id)
    if isinstance(row, Response):
        return row
    try:
        async with console.ctx.db.writing() as session:
            event_id = await endpoints.send_test(session, row, console.now())
    except EndpointError as exc:
        return console.render(
            "message.html",
            status_code=400,
            heading="Not sent",
            message=f"No test event sent: {exc}.",
            link=f"/console/webhooks/{row.id}",
            link_label="Back to the endpoint",
        )
    return console.redirect(
        f"/console/webhooks/{row.id}",
        f"Test event {event_id} queued for webhook endpoint {row.id}; "
        "its delivery and every attempt show below.",
    )


@router.post("/webhooks/deliveries/{delivery_id}/replay")
async def replay(delivery_id: str, console: ConsoleDep) -> Response:
    """Send a delivery again as a new one (same ``webhook-id`` and body)."""
    await console.form()  # CSRF
    delivery = await console.db.get(WebhookDeliveryRow, _id(delivery_id))
    if delivery is None or not console.principal.sees(delivery.account_id):
        raise NotFoundPage()
    endpoint, _account = await _visible(console, str(delivery.endpoint_id))
    if (refused := _refuse_change(console, endpoint)) is not None:
        return refused
    async with console.ctx.db.writing() as session:
        connection = await session.connection()
        new_id = await connection.run_sync(outbox.replay, delivery, console.now())
    note = "" if endpoint.enabled else " The endpoint is disabled: enable it to send it."
    return console.redirect(
        f"/console/webhooks/{delivery.endpoint_id}",
        f"Delivery {delivery.id} queued again as delivery {new_id} "
        f"(webhook-id {delivery.event_id}).{note}",
    )
