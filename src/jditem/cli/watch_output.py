"""How ``jditem watch`` prints: a list as labelled lines or JSON, the account's lists as
a table, and what an add did (skipped lines on stderr)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer

from jditem.cli.watch_rules import describe

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from jditem.client.watch import AddedItems
    from jditem.protocol.monitoring import WatchList


def _when(value: Any) -> str:
    return value.astimezone().isoformat(timespec="seconds") if value is not None else "-"


def _state(wl: WatchList) -> str:
    status = wl.status
    return f"paused ({status.paused_reason.value})" if status.paused_reason else "active"


def _schedule(wl: WatchList) -> str:
    plan = wl.schedule
    if plan.interval_seconds is not None:
        return f"every {plan.interval_seconds} s"
    target = f"; notice within {plan.within_seconds} s" if plan.within_seconds else ""
    return f"adaptive, {plan.min_interval_seconds} s to {plan.max_interval_seconds} s{target}"


def _lines(wl: WatchList) -> Iterator[tuple[str, str]]:
    status = wl.status
    yield "list", wl.name
    yield "token", wl.token
    yield "items", f"{status.items} ({status.items_due} due)"
    yield "schedule", _schedule(wl)
    yield "budget", f"¥{wl.daily_budget} a day; spent today ¥{status.spent_today}"
    yield "notifies", describe(wl.rules)
    yield "checks today", str(status.checks_today)
    empty = "-" if status.empty_share is None else f"{status.empty_share:.0%}"
    yield "checks", f"{status.checks} ({empty} found nothing); {status.charges} charged"
    per_change = "-" if status.charges_per_change is None else f"{status.charges_per_change:g}"
    yield "changes found", f"{status.changes} ({per_change} charges per change)"
    yield "status", _state(wl)
    yield "next check", _when(status.next_check_at)
    yield "last check", _when(status.last_check_at)
    yield "last change", _when(status.last_change_at)


def print_list(wl: WatchList, as_json: bool) -> None:
    """One list: labelled lines, or its wire form as JSON."""
    if as_json:
        typer.echo(json.dumps(wl.to_wire(), ensure_ascii=False, indent=2))
        return
    for label, value in _lines(wl):
        typer.echo(f"{label:>13}: {value}")


def print_lists(found: Sequence[WatchList], as_json: bool) -> None:
    """The account's lists: a table (items, schedule, budget, spend, status, next check),
    or their wire forms as a JSON array."""
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
        "schedule",
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
            _schedule(wl),
            f"¥{wl.daily_budget}",
            f"¥{wl.status.spent_today}",
            _state(wl),
            _when(wl.status.next_check_at),
        )
    Console().print(table)


def print_added(result: AddedItems) -> None:
    """What an add did; the first skipped lines (and why) on stderr."""
    typer.echo(
        f"added {result.added}, already there {result.already_there}, "
        f"skipped {result.skipped_total}"
    )
    for line in result.skipped[:10]:
        typer.echo(f"  skipped line {line['line']}: {line['text']!r} ({line['reason']})", err=True)
