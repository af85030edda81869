"""``client.history(item_id)``: an item's change points, without I/O (SPEC §6.1).

:func:`history_request` builds the one HTTP call (``GET /api/history/{itemId}`` on a
jditem server, the token where the client's ``auth`` puts it) and :func:`read_history`
turns its answer into :class:`~jditem.protocol.monitoring.ItemHistory` or raises the
typed error of the answer's code (classified by :class:`BaseClient`, as for ``get``);
:class:`~jditem.Client` and :class:`~jditem.AsyncClient` only send. Reading history is
free; it is not retried (a rate-limited read raises
:class:`~jditem.errors.RateLimitError` with its ``retry_after``).
"""

from __future__ import annotations

from datetime import date, datetime
from urllib.parse import quote

from pydantic import ValidationError

from jditem import errors
from jditem.client.base import BaseClient, Classified
from jditem.client.flow import Send, normalize_item_id
from jditem.protocol.codes import Code
from jditem.protocol.monitoring import ItemHistory

__all__ = ["HISTORY_PATH", "history_request", "read_history"]

#: The path of an item's history on a jditem server.
HISTORY_PATH = "/api/history/{item_id}"

When = datetime | date | str | None


def _when(name: str, value: When) -> str | None:
    """A window bound as sent: a naive datetime is this machine's local time."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.astimezone().isoformat() if value.tzinfo is None else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise errors.ConfigurationError(
        f"{name} must be a datetime, a date or an ISO-8601 string, got a {type(value).__name__}"
    )


def history_request(
    base: BaseClient,
    item_id: object,
    *,
    since: When = None,
    until: When = None,
    limit: int | None = None,
) -> Send:
    """The call that reads ``item_id``'s history (a bare id, an int, or a JD item URL).

    ``since``/``until`` bound the window (a point in effect in it is included; a date
    means the whole day in the server's time zone); ``limit`` keeps the newest points.
    """
    item = normalize_item_id(item_id)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise errors.ConfigurationError(f"limit must be a positive whole number, got {limit!r}")
    _, params, headers = base.request_parts(item)
    params.pop("itemId", None)
    for name, value in (("since", _when("since", since)), ("until", _when("until", until))):
        if value is not None:
            params[name] = value
    if limit is not None:
        params["limit"] = str(limit)
    path = HISTORY_PATH.format(item_id=quote(item, safe=""))
    return Send(item, base.config.base_url.rstrip("/") + path, params, headers, base.timeout())


def read_history(classified: Classified, item_id: str) -> ItemHistory:
    """The history in the classified answer to :func:`history_request`, or its typed error
    raised (the twins classify the response, or the transport failure, as for ``get``)."""
    envelope = classified.envelope
    if envelope is not None and envelope.code == Code.SUCCESS:
        try:
            return ItemHistory.model_validate(envelope.data)
        except ValidationError as exc:
            raise errors.ProtocolError(
                f"the history of item {item_id} could not be read ({exc.error_count()} "
                f"problem(s), first: {exc.errors()[0]['msg']}); is this a jditem server? "
                "report the requestId",
                item_id=item_id,
                code=envelope.code,
                http_status=classified.http_status,
                request_id=classified.request_id,
            ) from None
    if classified.error is not None:
        raise classified.error
    raise errors.ProtocolError(
        f"the history of item {item_id} was answered with code {classified.code}, which a "
        "history read never answers; is this a jditem server? report the requestId",
        item_id=item_id,
        code=classified.code,
        http_status=classified.http_status,
        request_id=classified.request_id,
    )
