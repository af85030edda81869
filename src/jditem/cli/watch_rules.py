"""The rule options of ``jditem watch create|update`` (SPEC §6.3): which changes of a list
notify, and from which thresholds, with a re-arm cooldown.

``--notify price_drop,back_in_stock`` (or ``all``), ``--drop-pct 5``, ``--drop-yuan 20``,
``--price-at-most 499``, ``--cooldown 6h``. On ``update`` the options given change the
list's current rules and leave the rest; ``off`` clears a threshold.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from jditem.cli.exits import usage_error

if TYPE_CHECKING:
    from jditem.protocol.monitoring import WatchRules

_KINDS_HELP = (
    "Kinds that notify, comma-separated: price_drop, price_rise, new_low, out_of_stock, "
    "back_in_stock, promotion_started, promotion_ended, title_changed (or all)."
)
NotifyOpt = Annotated[str | None, typer.Option("--notify", help=_KINDS_HELP, show_default=False)]
DropPctOpt = Annotated[
    str | None,
    typer.Option(
        "--drop-pct", help="Drops notify from this percentage on (off: any).", show_default=False
    ),
]
DropYuanOpt = Annotated[
    str | None,
    typer.Option(
        "--drop-yuan", help="Drops notify from this many yuan on (off: any).", show_default=False
    ),
]
PriceAtMostOpt = Annotated[
    str | None,
    typer.Option(
        "--price-at-most",
        help="Drops notify only to this price or lower (off: any price).",
        show_default=False,
    ),
]
CooldownOpt = Annotated[
    str | None,
    typer.Option(
        "--cooldown",
        help="Quiet time per item and kind after it notified, e.g. 6h, 30m, 0 (default 6h).",
        show_default=False,
    ),
]

_DURATION = re.compile(r"(\d+)\s*([smhd]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str, *, option: str = "--interval") -> int:
    """``"600"``, ``"10m"``, ``"1h"``, ``"1d"`` → seconds (a usage error otherwise)."""
    found = _DURATION.fullmatch(text.strip().lower())
    if found is None:
        raise usage_error(f"{option} {text!r}: give seconds or e.g. 10m, 1h, 1d")
    return int(found.group(1)) * _UNIT[found.group(2)]


_FIELDS = {"drop-pct": "drop_percent", "drop-yuan": "drop_yuan", "price-at-most": "price_at_most"}


def _amount(option: str, text: str) -> Decimal | None:
    if text.strip().lower() == "off":
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise usage_error(
            f"--{option} {text!r}: give a number such as 5 or 19.90, or off"
        ) from None
    if not value.is_finite() or value <= 0:
        raise usage_error(f"--{option} {text!r}: give a number above 0, or off")
    return value


def rules_from(
    current: WatchRules | None,
    *,
    notify: str | None,
    drop_pct: str | None,
    drop_yuan: str | None,
    price_at_most: str | None,
    cooldown: str | None,
) -> WatchRules | None:
    """``current`` (None: the defaults) changed by the options given; None when none is."""
    from jditem.protocol.monitoring import ChangeKind, WatchRules

    given = (notify, drop_pct, drop_yuan, price_at_most, cooldown)
    if all(value is None for value in given):
        return None
    values: dict[str, Any] = (current or WatchRules()).model_dump()
    if notify is not None:
        names = [n.strip() for n in notify.split(",") if n.strip()]
        known = {kind.value for kind in ChangeKind}
        unknown = [n for n in names if n not in known and n != "all"]
        if unknown or not names:
            raise usage_error(
                f"--notify {notify!r}: unknown kind(s) {', '.join(unknown) or '(none given)'}; "
                f"use some of {', '.join(sorted(known))}, or all"
            )
        values["kinds"] = list(ChangeKind) if "all" in names else names
    for option, text in (("drop-pct", drop_pct), ("drop-yuan", drop_yuan)):
        if text is not None:
            values[_FIELDS[option]] = _amount(option, text)
    if price_at_most is not None:
        values["price_at_most"] = _amount("price-at-most", price_at_most)
    if cooldown is not None:
        values["cooldown_seconds"] = parse_interval(cooldown, option="--cooldown")
    try:
        return WatchRules.model_validate(values)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise usage_error(f"rules: {where}: {problem['msg']}") from None


def describe(rules: WatchRules) -> str:
    """One line for people: ``price_drop, new_low; drop >= 5 %; cooldown 6 h``."""
    parts = [", ".join(kind.value for kind in rules.kinds) or "nothing"]
    if rules.drop_percent is not None:
        parts.append(f"drop >= {rules.drop_percent} %")
    if rules.drop_yuan is not None:
        parts.append(f"drop >= ¥{rules.drop_yuan}")
    if rules.price_at_most is not None:
        parts.append(f"price <= ¥{rules.price_at_most}")
    parts.append(f"cooldown {rules.cooldown_seconds} s")
    return "; ".join(parts)
