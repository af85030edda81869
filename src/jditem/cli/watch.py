"""``jditem watch``: watch lists on a jditem server — create, update, add, remove, list,
show, pause, resume, delete (SPEC §6.2; rule options: :mod:`jditem.cli.watch_rules`).

Talks to the server with ``client.watch`` (:mod:`jditem.client.watch`); lists belong to
the token's account and run their checks under the token that created them. Items come
as arguments (ids or JD URLs) and/or ``--file`` (plain list, CSV with a header, JSON
Lines: what ``jditem batch`` reads). Errors are one line on stderr and an exit code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jditem import errors
from jditem.cli.client_options import BaseUrlOpt, InsecureOpt, TimeoutOpt, TokenOpt, item_id_arg
from jditem.cli.exits import ExitCode, fail, usage_error
from jditem.cli.watch_rules import (
    CooldownOpt,
    DropPctOpt,
    DropYuanOpt,
    NotifyOpt,
    PriceAtMostOpt,
    describe,
    parse_interval,
    rules_from,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from jditem.client import Client
    from jditem.formats.items import InputFormat
    from jditem.protocol.monitoring import WatchList

watch_app = typer.Typer(
    help="Watch lists on a jditem server: items checked on a schedule within a daily budget.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The list's name.")]
ItemsArg = Annotated[
    list[str] | None,
    typer.Argument(metavar="[ITEM]...", help="Item ids or JD item URLs.", show_default=False),
]
FileOpt = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        help="Items from a file (- for stdin): one per line, CSV with a header, or JSON Lines.",
        show_default=False,
    ),
]
IdColumnOpt = Annotated[
    str | None,
    typer.Option("--id-column", help="CSV column / JSON field holding the id.", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


class _Session:
    """One client for a command; JditemError → one line and the exit code."""

    def __init__(
        self, base_url: str | None, token: str | None, insecure: bool, timeout: float
    ) -> None:
        self.options = (base_url, token, insecure, timeout)

    def __enter__(self) -> Client:
        from jditem.cli.config import resolve_base_url, resolve_token
        from jditem.client import Client

        base_url, token, insecure, timeout = self.options
        try:
            self.client = Client(
                resolve_token(token),
                base_url=resolve_base_url(base_url),
                allow_insecure_http=insecure,
                read_timeout=timeout,
            )
        except errors.JditemError as error:
            raise fail(error) from None
        return self.client

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        self.client.close()
        if isinstance(error, errors.JditemError):
            raise fail(error) from None


#: The client session of a watch command (``jditem changes`` uses it too).
Session = _Session


def _refs(items: list[str] | None) -> list[str]:
    return [item_id_arg(ref) for ref in items or []]


def _read(path: Path | None) -> tuple[str | None, InputFormat | None]:
    """(text, format) of ``--file``: the format from its suffix, else sniffed."""
    if path is None:
        return None, None
    from jditem.formats.items import detect_format

    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise usage_error(f"cannot read {path}: {exc}") from None
    first = next((line for line in text.splitlines() if line.strip()), "")
    name = "" if str(path) == "-" else path.name
    return text, detect_format(name, first)


def _when(value: Any) -> str:
    return value.astimezone().isoformat(timespec="seconds") if value is not None else "-"


def _state(wl: WatchList) -> str:
    status = wl.status
    return f"paused ({status.paused_reason.value})" if status.paused_reason else "active"


def _lines(wl: WatchList) -> Iterator[tuple[str, str]]:
    status = wl.status
    yield "list", wl.name
    yield "token", wl.token
    yield "items", f"{status.items} ({status.items_due} due)"
    yield "interval", f"{wl.schedule.interval_seconds} s"
    yield "budget", f"¥{wl.daily_budget} a day; spent today ¥{status.spent_today}"
    yield "notifies", describe(wl.rules)
    yield "checks today", str(status.checks_today)
    yield "status", _state(wl)
    yield "next check", _when(status.next_check_at)
    yield "last check", _when(status.last_check_at)
    yield "last change", _when(status.last_change_at)


def _print(wl: WatchList, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(wl.to_wire(), ensure_ascii=False, indent=2))
        return
    for label, value in _lines(wl):
        typer.echo(f"{label:>13}: {value}")


def _added(result: Any) -> None:
    typer.echo(
        f"added {result.added}, already there {result.already_there}, "
        f"skipped {result.skipped_total}"
    )
    for line in result.skipped[:10]:
        typer.echo(f"  skipped line {line['line']}: {line['text']!r} ({line['reason']})", err=True)


@watch_app.command("create")
def create_command(
    name: NameArg,
    interval: Annotated[
        str, typer.Option("--interval", help="Seconds between checks of an item (or 10m, 1h).")
    ],
    budget: Annotated[str, typer.Option("--budget", help="Yuan a day at most, e.g. 5.00.")],
    items: ItemsArg = None,
    file: FileOpt = None,
    id_column: IdColumnOpt = None,
    notify: NotifyOpt = None,
    drop_pct: DropPctOpt = None,
    drop_yuan: DropYuanOpt = None,
    price_at_most: PriceAtMostOpt = None,
    cooldown: CooldownOpt = None,
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Create a list (checked under this token), optionally with its first items and the
    rules of what notifies (default: every kind, 6 h cooldown)."""
    seconds = parse_interval(interval)
    rules = rules_from(
        None,
        notify=notify,
        drop_pct=drop_pct,
        drop_yuan=drop_yuan,
        price_at_most=price_at_most,
        cooldown=cooldown,
    )
    refs = _refs(items)
    text, fmt = _read(file)
    with _Session(base_url, token, insecure, timeout) as client:
        made = client.watch.create(
            name, interval_seconds=seconds, daily_budget=budget, items=refs, rules=rules
        )
        if text is not None:
            _added(client.watch.add(name, text=text, input_format=fmt, id_column=id_column))
        _print(client.watch.show(name) if text is not None else made, False)


@watch_app.command("update")
def update_command(
    name: NameArg,
    interval: Annotated[
        str | None,
        typer.Option("--interval", help="Seconds between checks (or 10m, 1h).", show_default=False),
    ] = None,
    budget: Annotated[
        str | None, typer.Option("--budget", help="Yuan a day at most.", show_default=False)
    ] = None,
    notify: NotifyOpt = None,
    drop_pct: DropPctOpt = None,
    drop_yuan: DropYuanOpt = None,
    price_at_most: PriceAtMostOpt = None,
    cooldown: CooldownOpt = None,
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Change a list's interval, budget or rules (the rule options given change its
    current rules; the others stay)."""
    seconds = parse_interval(interval) if interval is not None else None
    options = (notify, drop_pct, drop_yuan, price_at_most, cooldown)
    if seconds is None and budget is None and all(value is None for value in options):
        raise usage_error("nothing to change: give --interval, --budget or a rule option")
    with _Session(base_url, token, insecure, timeout) as client:
        current = client.watch.show(name).rules if any(v is not None for v in options) else None
        rules = rules_from(
            current,
            notify=notify,
            drop_pct=drop_pct,
            drop_yuan=drop_yuan,
            price_at_most=price_at_most,
            cooldown=cooldown,
        )
        changed = client.watch.update(
            name, interval_seconds=seconds, daily_budget=budget, rules=rules
        )
    _print(changed, False)


@watch_app.command("add")
def add_command(
    name: NameArg,
    items: ItemsArg = None,
    file: FileOpt = None,
    id_column: IdColumnOpt = None,
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Add items (ids, JD URLs, or --file) to a list."""
    refs = _refs(items)
    text, fmt = _read(file)
    if not refs and text is None:
        raise usage_error("pass ITEM ids/URLs or --file PATH (- for stdin)")
    with _Session(base_url, token, insecure, timeout) as client:
        _added(client.watch.add(name, refs, text=text, input_format=fmt, id_column=id_column))


@watch_app.command("remove")
def remove_command(
    name: NameArg,
    items: ItemsArg = None,
    file: FileOpt = None,
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Remove items (ids, JD URLs, or a plain --file of them) from a list."""
    refs = _refs(items)
    text, _fmt = _read(file)
    if text is not None:
        from jditem.formats.items import ItemLine, parse_lines

        lines = parse_lines(text.splitlines())
        refs += dict.fromkeys(line.item_id for line in lines if isinstance(line, ItemLine))
    if not refs:
        raise usage_error("pass ITEM ids/URLs or --file PATH (- for stdin)")
    with _Session(base_url, token, insecure, timeout) as client:
        removed = client.watch.remove(name, refs)
    typer.echo(f"removed {removed} of {len(refs)}")


@watch_app.command("list")
def list_command(
    as_json: JsonOpt = False,
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """The account's lists: items, interval, budget, spend today, status, next check."""
    with _Session(base_url, token, insecure, timeout) as client:
        found = client.watch.list()
    if as_json:
        typer.echo(json.dumps([wl.to_wire() for wl in found], ensure_ascii=False, indent=2))
        return
    if not found:
        typer.echo(
            "no watch lists (create one with: jditem watch create NAME --interval 1h --budget 5)"
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for column in (
        "list",
        "items",
        "interval",
        "budget/day",
        "spent today",
        "status",
        "next check",
    ):
        table.add_column(column, overflow="fold")
    for wl in found:
        table.add_row(
            wl.name,
            str(wl.status.items),
            f"{wl.schedule.interval_seconds} s",
            f"¥{wl.daily_budget}",
            f"¥{wl.status.spent_today}",
            _state(wl),
            _when(wl.status.next_check_at),
        )
    Console().print(table)


@watch_app.command("show")
def show_command(
    name: NameArg,
    as_json: JsonOpt = False,
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """One list: status, next and last check, spend today against the budget."""
    with _Session(base_url, token, insecure, timeout) as client:
        _print(client.watch.show(name), as_json)


@watch_app.command("pause")
def pause_command(
    name: NameArg,
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Pause a list (only resume lifts it)."""
    with _Session(base_url, token, insecure, timeout) as client:
        _print(client.watch.pause(name), False)


@watch_app.command("resume")
def resume_command(
    name: NameArg,
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Resume a list (items overdue meanwhile are checked once)."""
    with _Session(base_url, token, insecure, timeout) as client:
        _print(client.watch.resume(name), False)


@watch_app.command("delete")
def delete_command(
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm the deletion.")] = False,
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Delete a list and its items (its charges stay in the ledger)."""
    if not yes:
        raise usage_error(f"deleting {name!r} drops its items and schedule: add --yes to confirm")
    with _Session(base_url, token, insecure, timeout) as client:
        client.watch.delete(name)
    typer.echo(f"deleted {name}")
    raise typer.Exit(ExitCode.OK)


def register(app: typer.Typer) -> None:
    """Register ``jditem watch``."""
    app.add_typer(watch_app, name="watch")
