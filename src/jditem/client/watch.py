"""Watch lists of a jditem server (SPEC §6.2): ``client.watch`` on both twins.

:class:`~jditem.client.watch_core.WatchCore` is the I/O-free part
(:mod:`jditem.client.watch_core`): it builds each request (:class:`ApiRequest`) and turns
an answer into models or an :mod:`jditem.errors` exception. The twins' namespaces,
:class:`WatchLists` (``Client.watch``) and :class:`AsyncWatchLists`
(``AsyncClient.watch``), only send and receive. Managing lists is free; each scheduled
check is charged like a call (the server does it). Example::

    with Client(base_url="http://127.0.0.1:8000") as client:
        client.watch.create("phones", interval_seconds=3600, daily_budget="5.00")
        client.watch.add("phones", ["100012043978", "https://item.jd.com/100008348542.html"])
        print(client.watch.show("phones").status)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Unpack

import httpx

from jditem.client.server_api import ApiRequest, send, send_async
from jditem.client.watch_core import (
    AddedItems,
    InputFormat,
    ItemsPage,
    Schedule,
    WatchCore,
    WatchItem,
    YuanAmount,
)
from jditem.protocol.monitoring import ChangesPage, WatchList, WatchRules

__all__ = [
    "AddedItems",
    "ApiRequest",
    "AsyncWatchLists",
    "Schedule",
    "WatchCore",
    "WatchItem",
    "WatchLists",
]


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
