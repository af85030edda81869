"""A watch list's schedule (SPEC §6.2, §6.4): fixed or adaptive, checked and shown.

``fixed``: every ``interval_seconds``. ``adaptive``: each item between
``min_interval_seconds`` (stored in ``interval_seconds``) and ``max_interval_seconds``,
as often as its own changes call for (:mod:`.adaptive`), within the daily budget and,
when ``within_seconds`` is set, aiming to notice a change within about that long.
"""

from __future__ import annotations

from collections.abc import Mapping

from jditem.server.monitor.policy import DAY
from jditem.server.monitor.watchlists import MAX_INTERVAL_SECONDS, WatchError, check_interval
from jditem.server.store.watch_tables import ADAPTIVE, FIXED, WatchItemRow, WatchListRow


def schedule_values(
    current: WatchListRow | None,
    *,
    interval: int | None,
    min_interval: int | None,
    max_interval: int | None,
    within: int | None,
    floor: int,
) -> dict[str, object]:
    """The list columns a request's schedule fields set (``{}``: none was sent).

    ``interval`` makes the list fixed; ``min_interval``/``max_interval`` (both, unless the
    list is adaptive already) make it adaptive; ``within`` 0 clears the target.
    :class:`WatchError` says what is wrong.
    """
    adaptive_fields = (min_interval, max_interval, within)
    if interval is not None:
        if any(value is not None for value in adaptive_fields):
            raise WatchError(
                "give either intervalSeconds (a fixed schedule) or minIntervalSeconds and "
                "maxIntervalSeconds (adaptive, optionally withinSeconds), not both"
            )
        return {
            "schedule_mode": FIXED,
            "interval_seconds": check_interval(interval, floor),
            "max_interval_seconds": None,
            "within_seconds": None,
        }
    if all(value is None for value in adaptive_fields):
        return {}
    was_adaptive = current is not None and current.schedule_mode == ADAPTIVE
    if was_adaptive and current is not None:
        min_interval = current.interval_seconds if min_interval is None else min_interval
        max_interval = current.max_interval_seconds if max_interval is None else max_interval
    if min_interval is None or max_interval is None:
        raise WatchError(
            "an adaptive schedule needs both minIntervalSeconds and maxIntervalSeconds "
            "(or intervalSeconds for a fixed one)"
        )
    low, high = check_interval(min_interval, floor), check_interval(max_interval, floor)
    if low > high:
        raise WatchError(f"minIntervalSeconds ({low}) must not exceed maxIntervalSeconds ({high})")
    values: dict[str, object] = {
        "schedule_mode": ADAPTIVE,
        "interval_seconds": low,
        "max_interval_seconds": high,
    }
    if within is not None:
        if not 0 <= within <= MAX_INTERVAL_SECONDS:
            raise WatchError(
                f"withinSeconds must be between 1 and {MAX_INTERVAL_SECONDS} (30 days), or 0 "
                f"to clear it; got {within}"
            )
        values["within_seconds"] = within or None
    elif not was_adaptive:
        values["within_seconds"] = None
    return values


def check_affordable(
    row: WatchListRow | None, values: Mapping[str, object], items: int, price_units: int
) -> None:
    """:class:`WatchError` when a list — ``row`` (None: a new one) with the columns
    ``values`` set — is adaptive and its budget cannot check each of its ``items`` even
    once per its longest interval (a fixed list just pauses when its budget is spent)."""
    mode = values.get("schedule_mode", row.schedule_mode if row is not None else FIXED)
    longest = values.get("max_interval_seconds", row.max_interval_seconds if row else None)
    budget = values.get("daily_budget", row.daily_budget if row is not None else 0)
    if mode != ADAPTIVE or not isinstance(longest, int) or not isinstance(budget, int):
        return
    if price_units <= 0 or items == 0:
        return
    pays = budget // price_units
    needs = items * DAY / longest
    if pays < needs:
        raise WatchError(
            f"the daily budget pays {pays} checks a day, but {items} items checked at least "
            f"once every maxIntervalSeconds={longest} need {needs:g}: raise dailyBudget, "
            "lengthen maxIntervalSeconds, or remove items"
        )


def item_interval(row: WatchListRow, item: WatchItemRow) -> int | None:
    """The item's interval now, seconds: the list's (fixed), or the one the policy chose
    at its last check (adaptive; None before its first check)."""
    if row.schedule_mode != ADAPTIVE:
        return row.interval_seconds
    return None if item.current_interval is None else round(item.current_interval)
