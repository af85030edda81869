"""``jditem watch`` schedule options: fixed (``--interval``) or adaptive (``--adaptive
--min --max [--within]``), SPEC §6.2, §6.4."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from jditem.cli.exits import usage_error
from jditem.cli.watch_rules import parse_interval

if TYPE_CHECKING:
    from jditem.client.watch import Schedule


IntervalOpt = Annotated[
    str | None,
    typer.Option(
        "--interval",
        help="Fixed schedule: seconds between checks (or 10m, 1h).",
        show_default=False,
    ),
]
AdaptiveOpt = Annotated[
    bool,
    typer.Option(
        "--adaptive",
        help="Adaptive schedule: each item checked as often as it changes, within --min/--max.",
    ),
]
MinOpt = Annotated[
    str | None,
    typer.Option(
        "--min", help="Adaptive: an item's shortest interval (e.g. 10m).", show_default=False
    ),
]
MaxOpt = Annotated[
    str | None,
    typer.Option(
        "--max", help="Adaptive: an item's longest interval (e.g. 1d).", show_default=False
    ),
]
WithinOpt = Annotated[
    str | None,
    typer.Option(
        "--within",
        help="Adaptive: notice a change within about this long (e.g. 2h; 0 clears it).",
        show_default=False,
    ),
]


def schedule_options(
    interval: str | None,
    adaptive: bool,
    low: str | None,
    high: str | None,
    within: str | None,
) -> Schedule:
    """The ``client.watch`` schedule arguments of the options (a usage error if mixed)."""
    bounds = {"--min": low, "--max": high, "--within": within}
    given = [option for option, value in bounds.items() if value is not None]
    if interval is not None:
        if adaptive or given:
            raise usage_error(
                f"--interval is a fixed schedule; drop {' '.join(given) or '--adaptive'} or drop "
                "--interval"
            )
        return {"interval_seconds": parse_interval(interval)}
    if adaptive and low is None and high is None and within is None:
        raise usage_error("--adaptive needs --min and --max (e.g. --min 10m --max 1d)")
    schedule: Schedule = {}
    if low is not None:
        schedule["min_interval_seconds"] = parse_interval(low, option="--min")
    if high is not None:
        schedule["max_interval_seconds"] = parse_interval(high, option="--max")
    if within is not None:
        schedule["within_seconds"] = parse_interval(within, option="--within")
    return schedule
