"""The I/O-free core of ``client.watch`` (SPEC §6.2): requests and answers of a jditem
server's watch lists.

:class:`WatchCore` builds each request (:class:`ApiRequest`) and turns an answer's
``data`` into models (:class:`~jditem.protocol.monitoring.WatchList`,
:class:`AddedItems`, :class:`WatchItem`) or an :mod:`jditem.errors` exception; it never
sends. The twins' namespaces in :mod:`jditem.client.watch` only send and receive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, TypedDict, Unpack
from urllib.parse import quote

from jditem import errors
from jditem.client.base import BaseClient
from jditem.client.server_api import ApiRequest, answer_data, api_request
from jditem.protocol.monitoring import ChangesPage, WatchList, WatchRules, plain_decimal

__all__ = [
    "AddedItems",
    "ApiRequest",
    "InputFormat",
    "ItemsPage",
    "Schedule",
    "WatchCore",
    "WatchItem",
    "YuanAmount",
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
