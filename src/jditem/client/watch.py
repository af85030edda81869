"""Watch lists of a jditem server (SPEC §6.2): ``client.watch`` on both twins.

:class:`WatchCore` is the I/O-free part: it builds each request (:class:`ApiRequest`)
and turns an answer into models or an :mod:`jditem.errors` exception. The twins'
namespaces, :class:`WatchLists` (``Client.watch``) and :class:`AsyncWatchLists`
(``AsyncClient.watch``), only send and receive. Managing lists is free; each scheduled
check is charged like a call (the server does it). Example::

    with Client(base_url="http://127.0.0.1:8000") as client:
        client.watch.create("phones", interval_seconds=3600, daily_budget="5.00")
        client.watch.add("phones", ["100012043978", "https://item.jd.com/100008348542.html"])
        print(client.watch.show("phones").status)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, TypedDict, Unpack
from urllib.parse import quote

import httpx

from jditem import errors
from jditem.client.base import BaseClient
from jditem.client.server_api import ApiRequest, answer_data, api_request, send, send_async
from jditem.protocol.monitoring import ChangesPage, WatchList, WatchRules, plain_decimal

__all__ = [
    "AddedItems",
    "ApiRequest",
    "AsyncWatchLists",
    "Schedule",
    "WatchCore",
    "WatchItem",
    "WatchLists",
]

InputFormat = Literal["lines", "csv", "jsonl"]
YuanAmount = Decimal | str | int


@dataclass(frozen=True, slots=True)
class AddedItems:
    """What an add did: new items, those the list held already, lines naming no item."""

    added: int
    already_there: int
    skipped_total: int
    #: the first skipped lines: ``{"line": n, "text": ..., "reason": ...}``
    skipped: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class WatchItem:
    """One item of a list and its schedule (times as ISO-8601 text with offset)."""

    item_id: str
    next_check_at: str | None
    last_checked_at: str | None
    last_code: int | None
    interval_seconds: int | None = None
    """The item's interval now: the list's (fixed) or the policy's (adaptive)."""
    checks: int = 0
    changes: int = 0


class Schedule(TypedDict, total=False):
    """A list's schedule as keyword arguments of ``create`` / ``update``: a fixed
    ``interval_seconds``, or adaptive ``min_interval_seconds`` and
    ``max_interval_seconds`` with an optional ``within_seconds`` (notice a change within
    about that long; 0 clears it on update)."""

    interval_seconds: int
    min_interval_seconds: int
    max_interval_seconds: int
    within_seconds: int


_SCHEDULE_FIELDS = {
    "interval_seconds": "intervalSeconds",
    "min_interval_seconds": "minIntervalSeconds",
    "max_interval_seconds": "maxIntervalSeconds",
    "within_seconds": "withinSeconds",
}


def _schedule(schedule: Schedule) -> dict[str, object]:
    return {_SCHEDULE_FIELDS[key]: value for key, value in schedule.items() if value is not None}


#: A page of items and the ``after`` of the next page (None at the end).
ItemsPage = tuple[list[WatchItem], str | None]


def _yuan(value: YuanAmount) -> str:
    if isinstance(value, (bool, float)):
        raise errors.ConfigurationError(
            "daily_budget is yuan as a string or Decimal (e.g. '5.00'), never a float"
        )
    return plain_decimal(value) if isinstance(value, Decimal) else str(value)


class WatchCore:
    """Requests and answers of ``/api/watch/lists`` (no I/O)."""

    def __init__(self, base: BaseClient) -> None:
        self._base = base

    def _request(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: dict[str, str] | None = None,
        *,
        root: str = "/api/watch/lists",
    ) -> ApiRequest:
        return api_request(self._base, method, root, path, json, params)

    @staticmethod
    def _name(name: str) -> str:
        return "/" + quote(name, safe="")

    def create(
        self,
        name: str,
        *,
        daily_budget: YuanAmount,
        items: Iterable[str] = (),
        rules: WatchRules | None = None,
        **schedule: Unpack[Schedule],
    ) -> ApiRequest:
        """Create list ``name`` under this client's token (``rules``: what notifies)."""
        body: dict[str, Any] = {
            "name": name,
            **_schedule(schedule),
            "dailyBudget": _yuan(daily_budget),
            "items": list(items),
        }
        if rules is not None:
            body["rules"] = rules.to_wire()
        return self._request("POST", "", body)

    def lists(self) -> ApiRequest:
        """Every list of the token's account."""
        return self._request("GET", "")

    def show(self, name: str) -> ApiRequest:
        """One list with its status."""
        return self._request("GET", self._name(name))

    def update(
        self,
        name: str,
        *,
        daily_budget: YuanAmount | None = None,
        paused: bool | None = None,
        rules: WatchRules | None = None,
        **schedule: Unpack[Schedule],
    ) -> ApiRequest:
        """Change the schedule, budget or rules (replaced whole); pause or resume it."""
        body: dict[str, Any] = _schedule(schedule)
        if rules is not None:
            body["rules"] = rules.to_wire()
        if daily_budget is not None:
            body["dailyBudget"] = _yuan(daily_budget)
        if paused is not None:
            body["paused"] = paused
        return self._request("PATCH", self._name(name), body)

    def delete(self, name: str) -> ApiRequest:
        """Delete the list and its items."""
        return self._request("DELETE", self._name(name))

    def add(
        self,
        name: str,
        items: Iterable[str] = (),
        *,
        text: str | None = None,
        input_format: InputFormat | None = None,
        id_column: str | None = None,
    ) -> ApiRequest:
        """Add ids / JD URLs, and/or a whole input ``text`` (lines, CSV, JSON Lines)."""
        body: dict[str, Any] = {"items": list(items)}
        if text is not None:
            body["text"] = text
        if input_format is not None:
            body["format"] = input_format
        if id_column is not None:
            body["idColumn"] = id_column
        return self._request("POST", self._name(name) + "/items", body)

    def remove(self, name: str, items: Iterable[str]) -> ApiRequest:
        """Remove ids / JD URLs from the list."""
        return self._request("POST", self._name(name) + "/items/remove", {"items": list(items)})

    def items(self, name: str, *, after: str | None = None, limit: int = 100) -> ApiRequest:
        """A page of the list's items, by id, after ``after``."""
        params = {"limit": str(limit), **({"after": after} if after is not None else {})}
        return self._request("GET", self._name(name) + "/items", params=params)

    def changes(
        self, cursor: str | None = None, *, limit: int = 100, list_name: str | None = None
    ) -> ApiRequest:
        """A page of the account's change events after ``cursor`` (of list ``list_name``)."""
        params = {"limit": str(limit)}
        if cursor is not None:
            params["cursor"] = cursor
        if list_name is not None:
            params["list"] = list_name
        return self._request("GET", "/changes", params=params, root="/api/watch")

    # -- answers -----------------------------------------------------------------------

    #: The ``data`` of a code-0 answer, else the typed error of its code.
    data = staticmethod(answer_data)

    @staticmethod
    def watch_list(data: Any) -> WatchList:
        """A list from an answer's ``data``."""
        return WatchList.model_validate(data)

    @staticmethod
    def watch_lists(data: Any) -> list[WatchList]:
        """The lists of ``GET /api/watch/lists``."""
        return [WatchList.model_validate(item) for item in data.get("lists", [])]

    @staticmethod
    def changes_page(data: Any) -> ChangesPage:
        """A page of ``GET /api/watch/changes``."""
        return ChangesPage.model_validate(data)

    @staticmethod
    def added(data: Any) -> AddedItems:
        """The result of an add."""
        return AddedItems(
            added=int(data["added"]),
            already_there=int(data["alreadyThere"]),
            skipped_total=int(data["skippedTotal"]),
            skipped=list(data.get("skipped", [])),
        )

    @staticmethod
    def page(data: Any) -> ItemsPage:
        """A page of items and the cursor of the next (None at the end)."""
        items = [
            WatchItem(
                item_id=str(i["itemId"]),
                next_check_at=i.get("nextCheckAt"),
                last_checked_at=i.get("lastCheckedAt"),
                last_code=i.get("lastCode"),
                interval_seconds=i.get("intervalSeconds"),
                checks=int(i.get("checks", 0)),
                changes=int(i.get("changes", 0)),
            )
            for i in data.get("items", [])
        ]
        return items, data.get("next")


class WatchLists:
    """``Client.watch``: the watch lists of the client's token's account (blocking)."""

    def __init__(self, core: WatchCore, http: httpx.Client) -> None:
        self._core = core
        self._http = http

    def _send(self, request: ApiRequest) -> Any:
        return send(self._http, request)

    def create(
        self,
        name: str,
        *,
        daily_budget: YuanAmount,
        items: Iterable[str] = (),
        rules: WatchRules | None = None,
        **schedule: Unpack[Schedule],
    ) -> WatchList:
        """Create a list checked within ``daily_budget`` yuan a day on a :class:`Schedule`:
        ``interval_seconds=3600`` (fixed), or ``min_interval_seconds=600,
        max_interval_seconds=86400`` (adaptive: each item as often as it changes);
        ``rules`` select which changes notify (default: every kind, 6 h cooldown)."""
        request = self._core.create(
            name, daily_budget=daily_budget, items=items, rules=rules, **schedule
        )
        return self._core.watch_list(self._send(request))

    def list(self) -> list[WatchList]:
        """Every list of the account, with its status."""
        return self._core.watch_lists(self._send(self._core.lists()))

    def show(self, name: str) -> WatchList:
        """One list with its status (next check, spend today, pause reason)."""
        return self._core.watch_list(self._send(self._core.show(name)))

    def update(
        self,
        name: str,
        *,
        daily_budget: YuanAmount | None = None,
        paused: bool | None = None,
        rules: WatchRules | None = None,
        **schedule: Unpack[Schedule],
    ) -> WatchList:
        """Change the schedule (a :class:`Schedule`), the daily budget or the rules
        (replaced whole); pause or resume."""
        request = self._core.update(
            name, daily_budget=daily_budget, paused=paused, rules=rules, **schedule
        )
        return self._core.watch_list(self._send(request))

    def pause(self, name: str) -> WatchList:
        """Pause the list (reason ``user``: only a resume lifts it)."""
        return self.update(name, paused=True)

    def resume(self, name: str) -> WatchList:
        """Resume the list (items overdue meanwhile are checked once)."""
        return self.update(name, paused=False)

    def delete(self, name: str) -> None:
        """Delete the list and its items."""
        self._send(self._core.delete(name))

    def add(
        self,
        name: str,
        items: Iterable[str] = (),
        *,
        text: str | None = None,
        input_format: InputFormat | None = None,
        id_column: str | None = None,
    ) -> AddedItems:
        """Add item ids / JD URLs and/or a whole input ``text`` (as ``jditem batch`` reads)."""
        request = self._core.add(
            name, items, text=text, input_format=input_format, id_column=id_column
        )
        return self._core.added(self._send(request))

    def remove(self, name: str, items: Iterable[str]) -> int:
        """Remove items; returns how many the list held."""
        return int(self._send(self._core.remove(name, items))["removed"])

    def items(self, name: str, *, after: str | None = None, limit: int = 100) -> ItemsPage:
        """A page of the list's items and the ``after`` of the next page (None: the end)."""
        return self._core.page(self._send(self._core.items(name, after=after, limit=limit)))

    def changes_page(
        self, cursor: str | None = None, *, limit: int = 100, list_name: str | None = None
    ) -> ChangesPage:
        """One page of the account's change events after ``cursor`` (``Client.changes``
        iterates them all)."""
        request = self._core.changes(cursor, limit=limit, list_name=list_name)
        return self._core.changes_page(self._send(request))


class AsyncWatchLists:
    """``AsyncClient.watch``: the twin of :class:`WatchLists` (same methods, awaited)."""

    def __init__(self, core: WatchCore, http: httpx.AsyncClient) -> None:
        self._core = core
        self._http = http

    async def _send(self, request: ApiRequest) -> Any:
        return await send_async(self._http, request)

    async def create(
        self,
        name: str,
        *,
        daily_budget: YuanAmount,
        items: Iterable[str] = (),
        rules: WatchRules | None = None,
        **schedule: Unpack[Schedule],
    ) -> WatchList:
        """See :meth:`WatchLists.create`."""
        request = self._core.create(
            name, daily_budget=daily_budget, items=items, rules=rules, **schedule
        )
        return self._core.watch_list(await self._send(request))

    async def list(self) -> list[WatchList]:
        """See :meth:`WatchLists.list`."""
        return self._core.watch_lists(await self._send(self._core.lists()))

    async def show(self, name: str) -> WatchList:
        """See :meth:`WatchLists.show`."""
        return self._core.watch_list(await self._send(self._core.show(name)))

    async def update(
        self,
        name: str,
        *,
        daily_budget: YuanAmount | None = None,
        paused: bool | None = None,
        rules: WatchRules | None = None,
        **schedule: Unpack[Schedule],
    ) -> WatchList:
        """See :meth:`WatchLists.update`."""
        request = self._core.update(
            name, daily_budget=daily_budget, paused=paused, rules=rules, **schedule
        )
        return self._core.watch_list(await self._send(request))

    async def pause(self, name: str) -> WatchList:
        """See :meth:`WatchLists.pause`."""
        return await self.update(name, paused=True)

    async def resume(self, name: str) -> WatchList:
        """See :meth:`WatchLists.resume`."""
        return await self.update(name, paused=False)

    async def delete(self, name: str) -> None:
        """See :meth:`WatchLists.delete`."""
        await self._send(self._core.delete(name))

    async def add(
        self,
        name: str,
        items: Iterable[str] = (),
        *,
        text: str | None = None,
        input_format: InputFormat | None = None,
        id_column: str | None = None,
    ) -> AddedItems:
        """See :meth:`WatchLists.add`."""
        request = self._core.add(
            name, items, text=text, input_format=input_format, id_column=id_column
        )
        return self._core.added(await self._send(request))

    async def remove(self, name: str, items: Iterable[str]) -> int:
        """See :meth:`WatchLists.remove`."""
        return int((await self._send(self._core.remove(name, items)))["removed"])

    async def items(self, name: str, *, after: str | None = None, limit: int = 100) -> ItemsPage:
        """See :meth:`WatchLists.items`."""
        return self._core.page(await self._send(self._core.items(name, after=after, limit=limit)))

    async def changes_page(
        self, cursor: str | None = None, *, limit: int = 100, list_name: str | None = None
    ) -> ChangesPage:
        """See :meth:`WatchLists.changes_page`."""
        request = self._core.changes(cursor, limit=limit, list_name=list_name)
        return self._core.changes_page(await self._send(request))
