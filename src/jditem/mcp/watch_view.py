"""A watch list as a model reads it, and finding one by name (shared by the watch tools
and the ``jditem://watch/{name}`` resource).

Reads go through ``client.watch`` (free on a jditem server). An unknown list answers
code 404, like an unknown path on a server without watch lists: :func:`find_list` tells
the two apart by asking for the account's lists, and raises :class:`UnknownListError`
naming them only when that works.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jditem import errors
from jditem.client import AsyncClient
from jditem.mcp.budget import format_yuan
from jditem.protocol.monitoring import WatchList, plain_decimal

#: Items listed in a list's view (the count of all is in ``status.items``).
SHOWN_ITEMS = 100
#: List names given when a name is unknown.
SHOWN_NAMES = 20


#: What to do about an unknown list, by default.
CHECK_OR_CREATE = (
    "Check the name with the user, or create the list with watch_add (list, items, "
    "interval_minutes, daily_budget_yuan)."
)


class UnknownListError(Exception):
    """No watch list ``name`` in the token's account, which has lists ``names``."""

    def __init__(self, name: str, names: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.names = names

    def describe(self, then: str = CHECK_OR_CREATE) -> str:
        """The message for a model: the name, the account's lists, and ``then``."""
        if self.names:
            shown = ", ".join(self.names[:SHOWN_NAMES])
            which = f"its lists: {shown}" + (" …" if len(self.names) > SHOWN_NAMES else "")
        else:
            which = "it has none yet"
        return f"There is no watch list named {self.name[:100]!r} in this account ({which}). {then}"


async def find_list(client: AsyncClient, name: str) -> WatchList:
    """The list ``name`` with its status; :class:`UnknownListError` when the account has no
    such list, the typed error of any other failure."""
    try:
        return await client.watch.show(name)
    except errors.EndpointNotFoundError as error:
        try:
            lists = await client.watch.list()
        except errors.JditemError:
            raise error from None  # no watch lists at all here: the wrong server
        raise UnknownListError(name, [wl.name for wl in lists]) from None


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def list_body(
    wl: WatchList, item_ids: list[str], more_items: bool, price_units: int
) -> dict[str, Any]:
    """The list as JSON: schedule, budget, spend today, pause state, its first items, and
    what checking every item at its interval would cost a day at the session's price."""
    status = wl.status
    interval = wl.schedule.interval_seconds
    body: dict[str, Any] = {
        "list": wl.name,
        "token_prefix": wl.token,
        "interval_minutes": interval / 60 if interval else None,
        "daily_budget_yuan": plain_decimal(wl.daily_budget),
        "spent_today_yuan": plain_decimal(status.spent_today),
        "paused": status.paused,
        "paused_reason": status.paused_reason.value if status.paused_reason else None,
        "items": status.items,
        "items_due": status.items_due,
        "checks_today": status.checks_today,
        "changes_today": status.changes_today,
        "next_check_at": _when(status.next_check_at),
        "last_check_at": _when(status.last_check_at),
        "last_change_at": _when(status.last_change_at),
        "item_ids": item_ids,
        "more_items": more_items,
    }
    if interval:
        checks = status.items * 86_400 // interval
        body["full_day_checks"] = checks
        body["full_day_cost_yuan"] = format_yuan(checks * price_units)
    return body


_PAUSES = {
    "list_budget": "its daily budget is spent; it resumes by itself tomorrow",
    "token_budget": "the token's budget is spent; it resumes when the user raises it",
    "quota": "the token's daily quota is used up; it resumes by itself tomorrow",
    "balance": "the account's balance is too low; it resumes when the user tops it up",
    "user": "paused by a person; only the user can resume it",
}


def list_summary(body: dict[str, Any]) -> str:
    """One paragraph for the model: what the list watches, how often, spend, state."""
    reason = body["paused_reason"]
    state = f"paused: {_PAUSES.get(reason, reason)}" if body["paused"] else "active"
    minutes = body["interval_minutes"]
    every = f"every {minutes:g} min" if minutes else "on an adaptive schedule"
    text = (
        f"Watch list {body['list']!r}: {body['items']} item(s) checked {every} within "
        f"{body['daily_budget_yuan']} yuan a day "
        f"(spent today {body['spent_today_yuan']}, {body['checks_today']} check(s), "
        f"{body['changes_today']} change(s)); {state}."
    )
    if "full_day_cost_yuan" in body:
        text += (
            f" Checking every item at this interval all day would cost about "
            f"{body['full_day_cost_yuan']} yuan ({body['full_day_checks']} checks); the "
            "daily budget caps it."
        )
    return text


async def list_view(client: AsyncClient, name: str, price_units: int) -> dict[str, Any]:
    """:func:`list_body` of list ``name``, read from the server (two free reads)."""
    wl = await find_list(client, name)
    page, after = await client.watch.items(name, limit=SHOWN_ITEMS)
    return list_body(wl, [item.item_id for item in page], after is not None, price_units)
