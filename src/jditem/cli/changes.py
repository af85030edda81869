"""``jditem changes``: the change feed of the token's account on a jditem server (SPEC §6.3).

Prints the events after ``--since CURSOR`` (default: the oldest kept) in order — one line
each, or one JSON object per line with ``--json`` — then the cursor to resume from on
stderr. ``--follow`` keeps polling every ``--poll`` (1 s to 1 h, default 30 s) until
Ctrl-C, which exits 0 after printing the cursor; a poll that cannot reach the server is
reported and retried at the next one. ``--list NAME`` keeps one watch list's events.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated

import typer

from jditem import errors
from jditem.cli.client_options import BaseUrlOpt, InsecureOpt, TimeoutOpt, TokenOpt
from jditem.cli.exits import usage_error
from jditem.cli.server_session import Session
from jditem.cli.watch_rules import parse_interval

if TYPE_CHECKING:
    from jditem.client import Client
    from jditem.protocol.monitoring import ChangeEvent

#: The bounds of ``--poll``, in seconds.
POLL_MIN, POLL_MAX = 1, 3600


def _line(event: ChangeEvent) -> str:
    changes = ", ".join(f"{c.field} {c.before!s}->{c.after!s}" for c in event.changes)
    notified = [m.name for m in event.rule_matches if m.notify]
    tail = f"  [notifies: {', '.join(notified)}]" if notified else ""
    kinds = ",".join(event.kinds) or "-"
    return f"{event.observed_at.isoformat()}  {event.item_id}  {kinds}  {changes}{tail}"


def _drain(client: Client, since: str | None, list_name: str | None, as_json: bool) -> str | None:
    feed = client.changes(since=since, list_name=list_name)
    for event in feed:
        typer.echo(json.dumps(event.to_wire(), ensure_ascii=False) if as_json else _line(event))
    return feed.cursor


def _resume(cursor: str | None) -> None:
    if cursor is not None:
        typer.echo(f"cursor: {cursor} (continue with: jditem changes --since {cursor})", err=True)


def changes_command(
    follow: Annotated[
        bool, typer.Option("--follow", "-F", help="Keep polling for new events until Ctrl-C.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per event.")] = False,
    since: Annotated[
        str | None,
        typer.Option("--since", help="The cursor printed by a previous run.", show_default=False),
    ] = None,
    list_name: Annotated[
        str | None,
        typer.Option("--list", help="Only the events of this watch list.", show_default=False),
    ] = None,
    poll: Annotated[
        str, typer.Option("--poll", help="With --follow: time between polls (e.g. 30s, 5m).")
    ] = "30s",
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """The change events of the token's account (price, stock, promotions, title), in
    order, resumable from a cursor; free."""
    every = parse_interval(poll, option="--poll")
    if not POLL_MIN <= every <= POLL_MAX:
        raise usage_error(f"--poll {poll!r}: give {POLL_MIN} s to {POLL_MAX // 60} min")
    cursor = since
    with Session(base_url, token, insecure, timeout) as client:
        try:
            cursor = _drain(client, cursor, list_name, as_json)
            while follow:
                time.sleep(every)
                try:
                    cursor = _drain(client, cursor, list_name, as_json)
                except (errors.TransportError, errors.RateLimitError) as exc:
                    typer.echo(f"poll failed ({exc}); trying again in {every} s", err=True)
        except KeyboardInterrupt:
            pass
        finally:
            _resume(cursor)


def register(app: typer.Typer) -> None:
    """Register ``jditem changes``."""
    app.command("changes")(changes_command)
