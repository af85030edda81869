"""``jditem watch``: watch lists on a jditem server — create, update, add, remove, list,
show, pause, resume, delete (SPEC §6.2, §6.4; schedule options:
:mod:`jditem.cli.watch_schedule`, rule options: :mod:`jditem.cli.watch_rules`).

Talks to the server with ``client.watch`` (:mod:`jditem.client.watch`); lists belong to
the token's account and run their checks under the token that created them. Items come
as arguments (ids or JD URLs) and/or ``--file`` (plain list, CSV with a header, JSON
Lines: what ``jditem batch`` reads). Errors are one line on stderr and an exit code
(:mod:`jditem.cli.server_session`); how lists print: :mod:`jditem.cli.watch_output`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jditem.cli.client_options import BaseUrlOpt, InsecureOpt, TimeoutOpt, TokenOpt, item_id_arg
from jditem.cli.exits import ExitCode, usage_error
from jditem.cli.server_session import Session
from jditem.cli.watch_output import print_added, print_list, print_lists
from jditem.cli.watch_rules import (
    CooldownOpt,
    DropPctOpt,
    DropYuanOpt,
    NotifyOpt,
    PriceAtMostOpt,
    rules_from,
)
from jditem.cli.watch_schedule import (
    AdaptiveOpt,
    IntervalOpt,
    MaxOpt,
    MinOpt,
    WithinOpt,
    schedule_options,
)

if TYPE_CHECKING:
    from jditem.formats.items import InputFormat

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


@watch_app.command("create")
def create_command(
    name: NameArg,
    budget: Annotated[str, typer.Option("--budget", help="Yuan a day at most, e.g. 5.00.")],
    interval: IntervalOpt = None,
    adaptive: AdaptiveOpt = False,
    low: MinOpt = None,
    high: MaxOpt = None,
    within: WithinOpt = None,
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
    rules of what notifies (default: every kind, 6 h cooldown).

    Fixed: --interval 1h checks every item every hour. Adaptive: --adaptive --min 10m
    --max 1d checks each item as often as it changes, spending --budget where changes
    happen (--within 2h: aim to notice a change within about two hours).
    """
    schedule = schedule_options(interval, adaptive, low, high, within)
    if not schedule:
        raise usage_error("give --interval 1h (fixed) or --adaptive --min 10m --max 1d")
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
    with Session(base_url, token, insecure, timeout) as client:
        made = client.watch.create(name, daily_budget=budget, items=refs, rules=rules, **schedule)
        if text is not None:
            print_added(client.watch.add(name, text=text, input_format=fmt, id_column=id_column))
        print_list(client.watch.show(name) if text is not None else made, False)


@watch_app.command("update")
def update_command(
    name: NameArg,
    budget: Annotated[
        str | None,
        typer.Option("--budget", help="Yuan a day at most, e.g. 5.00.", show_default=False),
    ] = None,
    interval: IntervalOpt = None,
    adaptive: AdaptiveOpt = False,
    low: MinOpt = None,
    high: MaxOpt = None,
    within: WithinOpt = None,
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
    """Change a list's schedule (--interval, or --adaptive --min/--max/--within), budget or
    rules (the rule options given change its current rules; the others stay)."""
    schedule = schedule_options(interval, adaptive, low, high, within)
    options = (notify, drop_pct, drop_yuan, price_at_most, cooldown)
    if not schedule and budget is None and all(value is None for value in options):
        raise usage_error(
            "nothing to change: give --budget, --interval, --min/--max/--within or a rule option"
        )
    with Session(base_url, token, insecure, timeout) as client:
        current = client.watch.show(name).rules if any(v is not None for v in options) else None
        rules = rules_from(
            current,
            notify=notify,
            drop_pct=drop_pct,
            drop_yuan=drop_yuan,
            price_at_most=price_at_most,
            cooldown=cooldown,
        )
        changed = client.watch.update(name, daily_budget=budget, rules=rules, **schedule)
    print_list(changed, False)


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
    with Session(base_url, token, insecure, timeout) as client:
        print_added(client.watch.add(name, refs, text=text, input_format=fmt, id_column=id_column))


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
    with Session(base_url, token, insecure, timeout) as client:
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
    with Session(base_url, token, insecure, timeout) as client:
        found = client.watch.list()
    print_lists(found, as_json)


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
    with Session(base_url, token, insecure, timeout) as client:
        print_list(client.watch.show(name), as_json)


@watch_app.command("pause")
def pause_command(
    name: NameArg,
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Pause a list (only resume lifts it)."""
    with Session(base_url, token, insecure, timeout) as client:
        print_list(client.watch.pause(name), False)


@watch_app.command("resume")
def resume_command(
    name: NameArg,
    base_url: BaseUrlOpt = None,
    token: TokenOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Resume a list (items overdue meanwhile are checked once)."""
    with Session(base_url, token, insecure, timeout) as client:
        print_list(client.watch.resume(name), False)


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
    with Session(base_url, token, insecure, timeout) as client:
        client.watch.delete(name)
    typer.echo(f"deleted {name}")
    raise typer.Exit(ExitCode.OK)


def register(app: typer.Typer) -> None:
    """Register ``jditem watch``."""
    app.add_typer(watch_app, name="watch")
