"""``client.changes(since=cursor)``: the change feed of a jditem server (SPEC §6.3).

The requests and answers are :class:`~jditem.client.watch_core.WatchCore`'s (no I/O); a feed
here only walks the pages. :class:`ChangeFeed` (``Client.changes``) and
:class:`AsyncChangeFeed` (``AsyncClient.changes``) yield every event after ``since``
in order, page by page, and stop when the server has no more *now*. ``feed.cursor`` is
the id of the last event yielded (or ``since``): keep it, and a later
``client.changes(since=feed.cursor)`` continues without loss or repeats — also after a
``break`` in the middle of a page. Reading the feed is free. Example::

    feed = client.changes(since=saved_cursor)
    for event in feed:
        if event.notifies("phones"):
            print(event.item_id, event.kinds, event.changes)
    saved_cursor = feed.cursor
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

from jditem.protocol.monitoring import ChangeEvent, ChangesPage

__all__ = ["AsyncChangeFeed", "ChangeFeed"]

#: Pages one walk reads at most (a bound on the loop; ``limit`` events each).
MAX_PAGES = 1_000_000


class _Walk:
    def __init__(self, since: str | None) -> None:
        self.cursor = since
        """Where to continue from: the last event yielded, else ``since``."""

    def _ends(self, page: ChangesPage) -> bool:
        if page.cursor is not None and not page.events:
            self.cursor = page.cursor
        return not page.has_more or not page.events


class ChangeFeed(_Walk):
    """The events after ``since``, in order (see the module); iterate it once."""

    def __init__(self, fetch: Callable[[str | None], ChangesPage], since: str | None) -> None:
        super().__init__(since)
        self._fetch = fetch

    def __iter__(self) -> Iterator[ChangeEvent]:
        for _ in range(MAX_PAGES):
            page = self._fetch(self.cursor)
            for event in page.events:
                self.cursor = event.id
                yield event
            if self._ends(page):
                return


class AsyncChangeFeed(_Walk):
    """The twin of :class:`ChangeFeed`: ``async for event in client.changes(...)``."""

    def __init__(
        self, fetch: Callable[[str | None], Awaitable[ChangesPage]], since: str | None
    ) -> None:
        super().__init__(since)
        self._fetch = fetch

    async def __aiter__(self) -> AsyncIterator[ChangeEvent]:
        for _ in range(MAX_PAGES):
            page = await self._fetch(self.cursor)
            for event in page.events:
                self.cursor = event.id
                yield event
            if self._ends(page):
                return
