"""Which kinds of an event notify under a list's rules (SPEC §6.3): :func:`decide`.

Pure: no I/O, no clock reads (``now`` is passed in). The rules are the wire model
:class:`jditem.protocol.monitoring.WatchRules` (validated where they come in). An event's
kind notifies when all of these hold:

1. the list's rules name the kind (``kinds``);
2. for ``price_drop`` and ``new_low``, every threshold the rules set: the drop is at
   least ``drop_percent`` % of the previous price, at least ``drop_yuan`` yuan, and the
   new price is at most ``price_at_most`` — compared exactly, as fractions of the
   decimals (no float, no rounding: a drop of exactly the threshold notifies);
3. the kind is re-armed for the item: it last notified ``cooldown_seconds`` or more
   before ``now`` (or never). Only a notification starts a cooldown; events the
   cooldown silenced do not extend it. So a price flapping every few minutes notifies
   ``price_drop`` at most once per cooldown, and again as soon as one has passed.

The caller keeps the last notification time per (list, item, kind) — the cooldown is a
list's rule — and stores ``now`` for every kind :func:`decide` returns. The feed and the
history keep every event whatever the rules say.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from fractions import Fraction

from jditem.protocol.monitoring import ChangeKind, WatchRules
from jditem.server.monitor.kinds import Classification

__all__ = ["THRESHOLD_KINDS", "decide", "meets_thresholds"]

#: The kinds the price thresholds narrow.
THRESHOLD_KINDS = frozenset({ChangeKind.PRICE_DROP, ChangeKind.NEW_LOW})


def meets_thresholds(rules: WatchRules, event: Classification) -> bool:
    """True when the event's price drop meets every threshold ``rules`` set (exactly)."""
    if event.price_before is None or event.price_after is None:
        return False
    before, after = Fraction(event.price_before), Fraction(event.price_after)
    drop = before - after
    if rules.drop_yuan is not None and drop < Fraction(rules.drop_yuan):
        return False
    if rules.drop_percent is not None and drop * 100 < Fraction(rules.drop_percent) * before:
        return False
    return rules.price_at_most is None or after <= Fraction(rules.price_at_most)


def decide(
    rules: WatchRules,
    event: Classification,
    last_notified_at: Mapping[ChangeKind, datetime],
    now: datetime,
) -> tuple[ChangeKind, ...]:
    """The kinds of ``event`` that notify now, in :class:`ChangeKind` order (may be none).

    ``last_notified_at`` holds, per kind, when this list last notified it for this item.
    """
    cooldown = timedelta(seconds=rules.cooldown_seconds)
    wanted = set(rules.kinds)
    thresholds_met: bool | None = None  # computed once, when a price kind asks
    notify = []
    for kind in event.kinds:
        if kind not in wanted:
            continue
        if kind in THRESHOLD_KINDS:
            if thresholds_met is None:
                thresholds_met = meets_thresholds(rules, event)
            if not thresholds_met:
                continue
        last = last_notified_at.get(kind)
        if last is not None and now - last < cooldown:
            continue
        notify.append(kind)
    return tuple(notify)
