"""What a change means (SPEC §6.3): the kinds of an event, and the event as the API shows it.

Pure: no I/O, no clock reads. :func:`classify` takes the item's last state for the
account, the new observation, and the account's lowest known prices before it (per
window of :data:`WINDOWS_DAYS`, from :func:`lowest_known`), and gives a
:class:`Classification`: the field changes (:func:`.tracked.diff`) and their kinds.

* No previous state: a baseline, never an event (no changes, no kinds).
* ``price_drop`` / ``price_rise``: the current price went down / up between two
  observations that **both show it**. A masked (or absent) price on either side gives
  no price kind: the price after a masked period is still compared with the last one
  shown (a ``price_current`` change in ``changes``), but it moved at some unknown time
  in the gap, so nothing claims a drop "now" (masked ↔ unmasked never yields a kind).
* ``new_low``: a ``price_drop`` to below every known price in a window (30, 90, 180
  days of the account's own history before this observation); ``new_low_days`` says
  which windows. A window with no known price gives none.
* ``out_of_stock`` / ``back_in_stock``: ``in_stock`` went True → False / False → True
  (an unknown stock state on either side gives neither).
* ``promotion_started`` / ``promotion_ended``: a promotion text appeared / disappeared
  (one replacing another gives both). ``title_changed``: the title differs.
* Changes of the list price, the promo price, the stock code alone (34 ↔ 36), on-sale
  or the shop are events with no kind: they are in the feed, and rules select by kind.

An event's id is ``evt_`` + a ULID (:func:`new_event_id`, built on
:func:`jditem.server.ids.new_ulid`, which makes the task ids).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from jditem.protocol import monitoring as wire
from jditem.protocol.monitoring import ChangeKind
from jditem.server.ids import EVENT_ID_PREFIX, new_ulid
from jditem.server.monitor.tracked import ChangePoint, FieldChange, TrackedState, diff

__all__ = [
    "EVENT_ID_PREFIX",
    "WINDOWS_DAYS",
    "Classification",
    "classify",
    "lowest_known",
    "new_event_id",
]

#: The windows of ``new_low``, in days (SPEC §6.3).
WINDOWS_DAYS = (30, 90, 180)


def new_event_id(ms: int, *, randbits: Callable[[int], int] = secrets.randbits) -> str:
    """A change event id for the observation time ``ms`` (Unix milliseconds): ``evt_01J…``."""
    return EVENT_ID_PREFIX + new_ulid(ms, randbits=randbits)


@dataclass(frozen=True, slots=True)
class Classification:
    """An observation's field changes and kinds; an event exactly when :attr:`changes`."""

    changes: tuple[FieldChange, ...] = ()
    kinds: tuple[ChangeKind, ...] = ()
    """In :class:`ChangeKind` order, each once."""
    new_low_days: tuple[int, ...] = ()
    price_before: Decimal | None = None
    """With a price kind: the previous observation's current price (else ``None``)."""
    price_after: Decimal | None = None
    """With a price kind: this observation's current price (else ``None``)."""

    @property
    def is_event(self) -> bool:
        """True when the observation changed a tracked field (the baseline never does)."""
        return bool(self.changes)

    def to_wire(
        self,
        event_id: str,
        item_id: str,
        observed_at: datetime,
        lists: Sequence[str] = (),
        title: str | None = None,
        rule_matches: Sequence[wire.RuleMatch] = (),
    ) -> wire.ChangeEvent:
        """The event as the feed and webhooks show it (raises on a non-event)."""
        if not self.changes:
            raise ValueError("an observation without field changes is not an event")
        return wire.ChangeEvent(
            id=event_id,
            item_id=item_id,
            lists=list(lists),
            observed_at=observed_at,
            changes=[change.to_wire() for change in self.changes],
            kinds=[str(kind) for kind in self.kinds],
            new_low_days=list(self.new_low_days),
            title=title,
            rule_matches=list(rule_matches),
        )


def classify(
    prev: TrackedState | None,
    new: TrackedState,
    lows: Mapping[int, Decimal | None] | None = None,
) -> Classification:
    """The changes and kinds from the last state ``prev`` to the observation ``new``.

    ``lows`` maps each window of :data:`WINDOWS_DAYS` (days) to the account's lowest
    known price in that window before this observation (``None``: none known); without
    it no ``new_low`` is given.
    """
    if prev is None:
        return Classification()
    changes = diff(prev, new)
    if not changes:
        return Classification()
    found: set[ChangeKind] = set()
    low_days: list[int] = []
    before, after = prev.price_current, new.price_current
    priced = False
    if before is not None and after is not None and before != after:
        priced = True
        found.add(ChangeKind.PRICE_DROP if after < before else ChangeKind.PRICE_RISE)
        if after < before:
            windows = sorted((lows or {}).items())
            low_days = [d for d, low in windows if low is not None and after < low]
            if low_days:
                found.add(ChangeKind.NEW_LOW)
    if prev.in_stock is True and new.in_stock is False:
        found.add(ChangeKind.OUT_OF_STOCK)
    elif prev.in_stock is False and new.in_stock is True:
        found.add(ChangeKind.BACK_IN_STOCK)
    old_texts, new_texts = set(prev.promotion_texts), set(new.promotion_texts)
    if new_texts - old_texts:
        found.add(ChangeKind.PROMOTION_STARTED)
    if old_texts - new_texts:
        found.add(ChangeKind.PROMOTION_ENDED)
    if prev.title != new.title:
        found.add(ChangeKind.TITLE_CHANGED)
    return Classification(
        changes=changes,
        kinds=tuple(kind for kind in ChangeKind if kind in found),
        new_low_days=tuple(low_days),
        price_before=before if priced else None,
        price_after=after if priced else None,
    )


def lowest_known(
    points: Iterable[ChangePoint], at: datetime, days: Iterable[int] = WINDOWS_DAYS
) -> dict[int, Decimal | None]:
    """The lowest current price shown in each window of ``days`` days before ``at``.

    ``points`` are the item's change points for the account, oldest first; each holds
    from its ``valid_from`` to the next one's (the last one up to ``at``), the way a
    step chart draws it, and counts for a window it overlaps. Points that do not show
    the price (masked or absent) count for none. Points from ``at`` on are ignored.
    """
    ordered = [p for p in points if p.valid_from < at]
    windows = {d: at - timedelta(days=d) for d in days}
    lows: dict[int, Decimal | None] = dict.fromkeys(windows)
    for index, point in enumerate(ordered):
        price = point.state.price_current
        if price is None:
            continue
        until = ordered[index + 1].valid_from if index + 1 < len(ordered) else at
        for d, start in windows.items():
            low = lows[d]
            if until > start and (low is None or price < low):
                lows[d] = price
    return lows
