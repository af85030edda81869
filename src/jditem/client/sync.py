"""The synchronous client, :class:`Client` (twin of :class:`jditem.AsyncClient`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Self

import httpx

from jditem import errors
from jditem.client.calls import CallInfo, Classified
from jditem.client.changes import ChangeFeed
from jditem.client.flow import GetFlow, Send, drive_sync
from jditem.client.history import When, history_request, read_history
from jditem.client.many_sync import get_many_sync
from jditem.client.probe import ProbeResult
from jditem.client.results import ItemResult
from jditem.client.twin import Twin
from jditem.client.watch import WatchCore, WatchLists
from jditem.protocol.envelope import Envelope
from jditem.protocol.monitoring import ItemHistory
from jditem.protocol.product import Product

OnCall = Callable[[CallInfo], object]
BeforeCall = Callable[[str], object]


class Client(Twin[httpx.Client]):
    """Item id in, product out: a dependable client of the task-backed v2 endpoint.

    ``token`` defaults to ``JDITEM_TOKEN``, then ``JUSTONEAPI_TOKEN``. ``base_url`` is a
    preset (``global``, ``cn``) or a URL (default ``JDITEM_BASE_URL`` or ``global``).
    Other keyword arguments are the fields of :class:`ClientConfig`. Pass
    ``http_client`` to reuse your own :class:`httpx.Client` (it is not closed for you).
    :class:`~jditem.AsyncClient` is its twin: same methods, same rules.

    Example::

        with Client() as client:
            product = client.get("100012043978")
    """

    def _new_pool(self) -> httpx.Client:
        return httpx.Client(**self._pool_options())

    @property
    def watch(self) -> WatchLists:
        """The watch lists of this token's account on a jditem server (SPEC §6.2):
        ``create``, ``list``, ``show``, ``update``, ``pause``, ``resume``, ``delete``,
        ``add``, ``remove``, ``items`` (see :mod:`jditem.client.watch`)."""
        return WatchLists(WatchCore(self._base), self._http)

    def changes(
        self, since: str | None = None, *, list_name: str | None = None, limit: int = 100
    ) -> ChangeFeed:
        """The change events of this token's account after the cursor ``since`` (SPEC
        §6.3), in order, ``limit`` per request, until none is left now; ``.cursor`` on the
        feed resumes later without loss or repeats (see :mod:`jditem.client.changes`).
        ``list_name`` keeps one watch list's events. Free; errors are the typed errors."""
        watch = self.watch
        return ChangeFeed(
            lambda cursor: watch.changes_page(cursor, limit=limit, list_name=list_name), since
        )

    # -- calls -------------------------------------------------------------------------

    def _send(self, step: Send) -> tuple[Classified, httpx.Response | None]:
        started = time.perf_counter()
        try:
            response = self._http.get(
                step.url, params=step.params, headers=step.headers, timeout=step.timeout
            )
        except httpx.HTTPError as exc:
            return self._failed(step, exc, started), None
        return self._answered(step, response, started), response

    def _classified(self, step: Send) -> Classified:
        return self._send(step)[0]

    def fetch(self, item_id: str, *, idempotency_key: str | None = None) -> Envelope:
        """Exactly one HTTP call; returns the envelope whatever its business code.

        No retries, no polling. Raises only when there is no envelope to return:
        transport failures, a body that is not an envelope (``ProtocolError``), or
        HTTP 429/503 without a body code (``RateLimitError`` / ``CollectionFailedError``).
        ``idempotency_key`` is sent as the ``Idempotency-Key`` header (see :meth:`get`).
        """
        step = GetFlow(self._base, item_id, idempotency_key=idempotency_key).request()
        return self._envelope(self._classified(step))

    def probe(self, item_id: str) -> ProbeResult:
        """One HTTP call; the redacted raw response with its classification."""
        return self._probe(*self._send(GetFlow(self._base, item_id).request()))

    def get(
        self,
        item_id: str,
        *,
        deadline: float | None = None,
        on_call: OnCall | None = None,
        before_call: BeforeCall | None = None,
        idempotency_key: str | None = None,
    ) -> Product:
        """Submit, wait out pending, return the product; raise a typed error otherwise.

        ``item_id`` is 1-20 ASCII digits or a JD item URL
        (``https://item.jd.com/100012043978.html``). ``deadline`` (seconds, default the
        client's, 15 min) bounds everything: calls and waits. ``on_call`` receives a
        :class:`CallInfo` after every HTTP call; an exception it raises stops ``get``.
        ``before_call(item_id)`` runs before every HTTP call; an exception it raises
        stops ``get`` before the call is made.

        ``idempotency_key`` is sent as the ``Idempotency-Key`` header with every call
        (1-128 printable ASCII characters, never containing the token; one key per item
        and logical fetch; default: a fresh one per ``get``): a server that honours it
        (jditem's own) charges the item at most once per key, so a repeat after a crash or
        a lost answer is free. The vendor ignores the header — there the guarantee does
        not hold.

        A call that was sent but got no complete answer (read timeout, connection lost,
        truncated or invalid body) may have been charged: it is resent only when the
        server said it honours keys (``Idempotency-Key-Honoured`` on an earlier answer);
        otherwise it raises an :class:`~jditem.errors.AmbiguousOutcomeError` that says so.

        Each wait before a retry or poll is logged at INFO on the ``jditem.client``
        logger as it starts (see :mod:`jditem.client.flow`).
        """
        flow = GetFlow(
            self._base, item_id, deadline=deadline, idempotency_key=idempotency_key, auto_key=True
        )
        return drive_sync(flow.steps(), self._classified, time.sleep, before_call, on_call)

    def resume(
        self,
        continuation: str | errors.PendingTimeoutError,
        *,
        deadline: float | None = None,
        on_call: OnCall | None = None,
        before_call: BeforeCall | None = None,
        idempotency_key: str | None = None,
    ) -> Product:
        """Continue waiting for an item after :class:`~jditem.errors.PendingTimeoutError`.

        The server attaches calls for the same item to the same task, so nothing is
        submitted twice. The continuation must come from a client with the same base
        URL and endpoint. ``deadline``, ``on_call``, ``before_call`` and
        ``idempotency_key`` work as in :meth:`get`: pass the key of the ``get`` being
        resumed, and a charged call whose answer was lost is replayed free by a server
        that honours keys.
        """
        flow = GetFlow.resume(
            self._base, continuation, deadline=deadline, idempotency_key=idempotency_key
        )
        return drive_sync(flow.steps(), self._classified, time.sleep, before_call, on_call)

    def get_many(
        self,
        ids: Iterable[str],
        *,
        concurrency: int = 8,
        rate: float | None = None,
        deadline: float | None = None,
        on_call: Callable[[CallInfo], object] | None = None,
    ) -> Iterator[ItemResult]:
        """Fetch many items; yield an :class:`~jditem.client.results.ItemResult` for each
        as it completes.

        Duplicates are collapsed. At most ``concurrency`` calls are on the wire; call
        starts are spaced smoothly at up to ``rate`` per second (``None``: unlimited until
        the server throttles), cut on 302 / HTTP 429 and raised again after successes.
        Per-item errors come back in the result; a fatal answer (100, 303, 600, 601,
        602) stops new calls at once and is raised after the results still in flight.
        The calls run on an event loop in a helper thread (``on_call`` runs there too);
        a caller's own ``http_client`` carries every call (from worker threads)::

            for result in client.get_many(ids, concurrency=8, rate=10):
                print(result.item_id, result.product or result.error)
        """
        return get_many_sync(
            self.config,
            ids,
            http_client=None if self._owns_http else self._http,
            concurrency=concurrency,
            rate=rate,
            deadline=deadline,
            on_call=on_call,
        )

    def history(
        self,
        item_id: str,
        *,
        since: When = None,
        until: When = None,
        limit: int | None = None,
    ) -> ItemHistory:
        """The item's change points as this token's account received them (free).

        A jditem server keeps, per account, a point per change of an item's price, stock,
        promotions, shop and title (SPEC §6.1): ``.points`` oldest first, each a typed
        :class:`~jditem.protocol.monitoring.ChangePoint` (``valid_from``,
        ``last_confirmed_at``, ``price_current`` as a Decimal or None while JD masks it,
        ...). ``since``/``until`` (datetime, date or ISO-8601 text) select the points in
        effect in that window; ``limit`` keeps the newest (``.has_more`` says older ones
        exist). One call, not retried; errors are the typed errors of ``get``.
        """
        step = history_request(self._base, item_id, since=since, until=until, limit=limit)
        return read_history(self._classified(step), step.item_id)

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool (unless it was passed in or shared)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
