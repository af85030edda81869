"""The moving sandbox (SPEC §6.5): an item's tracked state, a pure function of (item, time, seed).

:func:`state_at` gives the SPEC §6.1 fields at an instant, :func:`change_times` the
instants where they change, :func:`drifted_payload` the JD payload showing them. Every
draw comes from a digest of (seed, item, process, bucket) (:mod:`.poisson`): any process
asking about any instant, in any order, gets the same answer. The model (rates,
processes, prices, stock, promotions, sale days, resolution): ``docs/models.md``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

from jditem.server.collectors.catalog import item_facts, render_payload, stable_int
from jditem.server.collectors.driftstate import (
    IN_STOCK_STATES,
    TRACKED_FIELDS,
    Campaign,
    DriftState,
)
from jditem.server.collectors.jdstyle import (
    Seller,
    campaign_text,
    jd_price,
    other_seller,
    title_tag,
)
from jditem.server.collectors.poisson import Event, HashProcess
from jditem.server.collectors.saledays import (
    SaleWindow,
    operational,
    real_instant,
    sale_window,
    sale_windows,
)

__all__ = [
    "TRACKED_FIELDS",
    "Campaign",
    "DriftState",
    "Seller",
    "change_times",
    "drifted_payload",
    "mean_interval",
    "state_at",
]

HOUR, DAY = 3600, 86_400
#: (share of items, mean-interval range in seconds drawn log-uniformly; None = never).
RATE_CLASSES: tuple[tuple[float, tuple[int, int] | None], ...] = (
    (0.10, None),
    (0.05, (20 * 60, 3 * HOUR)),
    (0.70, (DAY, 7 * DAY)),
    (0.15, (7 * DAY, 56 * DAY)),
)
#: Share of the item's rate each process takes (for spells: the rate of starts).
SHARES = {
    "price": 0.45,
    "list": 0.04,
    "campaign": 0.15,
    "stockout": 0.08,
    "unmasked": 0.03,
    "shelf": 0.01,
    "title": 0.01,
    "seller": 0.005,
}
#: How long spells last, in mean intervals (uniform in the range).
SPELLS = {
    "campaign": (0.2, 2.0),
    "stockout": (0.2, 2.0),
    "unmasked": (0.2, 2.0),
    "shelf": (0.2, 1.5),
    "title": (0.5, 3.0),
    "seller": (0.5, 3.0),
}
#: Spells drawn in a sale window are sale ones and end with the window at the latest.
_SALE_BOUND = frozenset({"campaign", "title"})
_IN_STOCK, _OUT_OF_STOCK, _PRE_ORDER = 33, 34, 36


@dataclass(frozen=True)
class _Profile:
    """What one item's drift needs, computed once per (item, seed)."""

    interval: int  # mean seconds between changes on ordinary days; 0 = never
    facts: dict[str, Any]
    base: DriftState
    processes: dict[str, HashProcess]

    @property
    def selling(self) -> Decimal:
        return self.base.price_promo or self.base.price_original


class _Spell(NamedTuple):
    event: Event
    draws: tuple[float, ...]
    op_end: int  # operational time it ends (exclusive)
    sale: SaleWindow | None  # the window a sale-bound spell started in


def _seconds(at: datetime | float) -> int:
    if isinstance(at, datetime):
        at = (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).timestamp()
    return math.floor(at)


def _draw_interval(item_id: str, seed: int) -> int:
    digest = hashlib.blake2b(f"jditem-drift-rate|{seed}|{item_id}".encode(), digest_size=16)
    pick = int.from_bytes(digest.digest()[:8], "big") * 2.0**-64
    position = int.from_bytes(digest.digest()[8:], "big") * 2.0**-64
    for share, bounds in RATE_CLASSES:
        if pick < share:
            if bounds is None:
                return 0
            low, high = bounds
            return round(low * math.exp(math.log(high / low) * position))
        pick -= share
    return 0  # only if rounding left the shares short of 1


def _base_state(facts: dict[str, Any]) -> DriftState:
    stock = facts.get("stock_state")
    if stock is None:
        stock = _IN_STOCK if facts.get("in_stock", True) else _OUT_OF_STOCK
    promo = facts.get("price_promo")
    seller = Seller(
        shop_id=str(facts["shop_id"]),
        vender_id=str(facts["vender_id"]),
        name=str(facts["shop_name"]),
        self_operated=bool(facts.get("self_operated")),
    )
    return DriftState(
        title=str(facts["title"]),
        price_original=Decimal(str(facts["price_original"])),
        price_promo=Decimal(str(promo)) if promo else None,
        price_masked=bool(facts.get("price_masked", True)),
        stock_state=int(stock),
        on_sale=bool(facts.get("on_sale", True)),
        promotion_texts=(),
        shop_id=seller.shop_id,
        seller=seller,
    )


@lru_cache(maxsize=4096)
def _profile(item_id: str, seed: int) -> _Profile:
    facts = item_facts(item_id)  # raises ValueError for an invalid id
    interval = _draw_interval(item_id, seed) if facts.get("price_original") else 0
    processes = {}
    if interval:
        for name, share in SHARES.items():
            bucket = max(1, round(interval / share))
            key = f"jditem-drift|{seed}|{item_id}|{name}|".encode()
            processes[name] = HashProcess(key, bucket, bucket * share / interval)
    return _Profile(interval, facts, _base_state(facts), processes)


def mean_interval(item_id: str, seed: int = 0) -> int:
    """The item's mean seconds between changes on ordinary days; 0 = it never changes.

    Raises :class:`ValueError` when ``item_id`` is not 1-20 ASCII digits.
    """
    return _profile(item_id, seed).interval


def state_at(item_id: str, at: datetime | float, seed: int = 0) -> DriftState:
    """The item's tracked state at ``at`` (an aware datetime, or epoch seconds).

    Raises :class:`ValueError` when ``item_id`` is not 1-20 ASCII digits.
    """
    profile = _profile(item_id, seed)
    if not profile.interval:
        return profile.base
    return _state(profile, _seconds(at))


def change_times(
    item_id: str,
    start: datetime | float,
    end: datetime | float,
    seed: int = 0,
    *,
    fields: Collection[str] | None = None,
) -> list[datetime]:
    """The instants ``T`` with ``start < T <= end`` where the item's tracked state changes.

    ``state_at(item, T) != state_at(item, T - 1 s)`` for each and for no other whole
    second of the range; aware UTC datetimes, in order. ``fields`` (names from
    :data:`~.driftstate.TRACKED_FIELDS`) keeps only the changes of those, e.g. without
    ``price_masked`` and ``price_current`` to leave out masking spells. Costs
    O(changes in the range).

    Raises :class:`ValueError` for an invalid ``item_id`` or an unknown field name.
    """
    unknown = sorted(set(fields or ()) - set(TRACKED_FIELDS))
    if unknown:
        raise ValueError(
            f"unknown tracked field(s) {', '.join(unknown)}; use {', '.join(TRACKED_FIELDS)}"
        )
    profile = _profile(item_id, seed)
    low, high = _seconds(start), _seconds(end)
    if not profile.interval or high <= low:
        return []
    op_low, op_high = operational(low), operational(high)
    # deep sale prices revert when their window ends (sale spells end there by themselves)
    candidates = {window.end for window in sale_windows(low, high + 1)}
    for name, process in profile.processes.items():
        if name not in SPELLS:
            events = process.between(op_low, op_high)
            candidates.update(real_instant(event.time) for event in events)
            continue
        longest = math.ceil(SPELLS[name][1] * profile.interval)
        for event in process.between(op_low - longest, op_high):
            spell = _spell(process, profile.interval, name, event)
            candidates.update((real_instant(event.time), real_instant(spell.op_end)))
    changes, previous = [], _state(profile, low)
    for instant in sorted(t for t in candidates if low < t <= high):
        state = _state(profile, instant)
        if state != previous and (
            fields is None or any(getattr(state, f) != getattr(previous, f) for f in fields)
        ):
            changes.append(datetime.fromtimestamp(instant, UTC))
        previous = state
    return changes


def drifted_payload(item_id: str, at: datetime | float, seed: int = 0) -> dict[str, Any]:
    """The JD payload of ``item_id`` as it stands at ``at`` (a fresh dict on every call).

    An item that never changes gets exactly the static catalog payload.
    Raises :class:`ValueError` when ``item_id`` is not 1-20 ASCII digits.
    """
    state = state_at(item_id, at, seed)
    facts = dict(_profile(item_id, seed).facts)
    promo = state.price_promo
    facts.update(
        title=state.title,
        price_original=str(state.price_original),
        price_promo=str(promo) if promo is not None else None,
        price_discount=str(state.price_original - promo) if promo is not None else None,
        price_masked=state.price_masked,
        stock_state=state.stock_state,
        on_sale=state.on_sale,
        shop_id=state.seller.shop_id,
        vender_id=state.seller.vender_id,
        shop_name=state.seller.name,
        self_operated=state.seller.self_operated,
        promotions=[vars(campaign) for campaign in state.campaigns],
    )
    return render_payload(facts)


# --- the state at one instant ------------------------------------------------------------


def _state(profile: _Profile, t: int) -> DriftState:
    s = operational(t)
    window = sale_window(t)
    # a price drawn at or after this operational time was drawn inside the current window
    sale_from = operational(window.start) if window is not None else s + 1
    base = profile.base
    list_price = _list_price(profile, s)
    stock_state, on_sale = _stock(profile, s)
    titles = _running(profile, "title", s)
    seller = base.seller
    if _running(profile, "seller", s):
        seller = other_seller(str(profile.facts["brand_name"]), seller.self_operated)
    campaigns = _campaigns(profile, s)
    return DriftState(
        title=_title(base.title, titles[-1]) if titles else base.title,
        price_original=list_price,
        price_promo=_promo_price(profile, s, list_price, sale_from),
        price_masked=base.price_masked != bool(_running(profile, "unmasked", s)),
        stock_state=stock_state,
        on_sale=on_sale,
        promotion_texts=tuple(campaign.text for campaign in campaigns),
        shop_id=seller.shop_id,
        seller=seller,
        campaigns=campaigns,
    )


def _factor(low: float, high: float, draw: float) -> Decimal:
    """A multiplier in ``[low, high)``, to four places."""
    return Decimal(f"{low + (high - low) * draw:.4f}")


def _list_price(profile: _Profile, s: int) -> Decimal:
    process = profile.processes["list"]
    event = process.last(s)
    base = profile.base.price_original
    if event is None:
        return base
    pick, draw, style, *_ = process.uniforms(event)
    return base if pick < 0.5 else jd_price(base * _factor(0.90, 1.20, draw), style)


def _promo_price(profile: _Profile, s: int, list_price: Decimal, sale_from: int) -> Decimal | None:
    base = profile.base
    factor: Decimal | None = None
    style = 0.0
    process = profile.processes["price"]
    event = process.last(s)
    if event is not None:
        pick, draw, style, *_ = process.uniforms(event)
        if event.time >= sale_from:
            factor = _factor(0.60, 0.90, draw) if pick >= 0.05 else None
        elif pick >= 0.35:
            factor = _factor(0.80, 1.10, draw)
    if factor is None and list_price == base.price_original:
        return base.price_promo  # the catalog's usual price
    ratio = profile.selling / base.price_original * (factor or 1)
    if ratio >= 1:
        return None
    price = jd_price(list_price * ratio, style)
    return price if price < list_price else None


def _title(base: str, spell: _Spell) -> str:
    return title_tag(spell.draws[0], spell.sale.name if spell.sale else None) + base


# --- spells ------------------------------------------------------------------------------


@lru_cache(maxsize=16_384)
def _spell(process: HashProcess, interval: int, name: str, event: Event) -> _Spell:
    """The spell ``event`` starts (memoised: a pure function of its arguments)."""
    draws = process.uniforms(event)
    low, high = SPELLS[name]
    op_end = event.time + max(1, round((low + (high - low) * draws[7]) * interval))
    sale = sale_window(real_instant(event.time)) if name in _SALE_BOUND else None
    if sale is not None:
        op_end = min(op_end, operational(sale.end))
    return _Spell(event, draws, op_end, sale)


def _running(profile: _Profile, name: str, s: int) -> list[_Spell]:
    """The spells of process ``name`` running at operational time ``s``, oldest first."""
    process = profile.processes[name]
    longest = math.ceil(SPELLS[name][1] * profile.interval)
    spells = (
        _spell(process, profile.interval, name, event) for event in process.between(s - longest, s)
    )
    return [spell for spell in spells if s < spell.op_end]


def _stock(profile: _Profile, s: int) -> tuple[int, bool]:
    if _running(profile, "shelf", s):
        return _OUT_OF_STOCK, False
    base = profile.base.stock_state
    outages = _running(profile, "stockout", s)
    if not outages:
        return base, True
    if base not in IN_STOCK_STATES:
        return _IN_STOCK, True
    return (_PRE_ORDER if outages[-1].draws[0] < 0.15 else _OUT_OF_STOCK), True


def _campaigns(profile: _Profile, s: int) -> tuple[Campaign, ...]:
    """The campaigns running at ``s``, one per text (the oldest), sorted by text."""
    found: dict[str, Campaign] = {}
    process = profile.processes["campaign"]
    for spell in _running(profile, "campaign", s):
        campaign = _campaign(process.key, profile.selling, spell)
        found.setdefault(campaign.text, campaign)
    return tuple(found[text] for text in sorted(found))


@lru_cache(maxsize=4096)
def _campaign(key: bytes, price: Decimal, spell: _Spell) -> Campaign:
    """The campaign of ``spell`` for an item selling at ``price`` (memoised: pure)."""
    text = campaign_text(price, spell.draws, spell.sale.name if spell.sale else None)
    identity = f"{key.decode()}{spell.event.bucket}.{spell.event.rank}"
    return Campaign(
        pid=f"{stable_int(identity, 10**11, 10**12)}_{text.promo_type}",
        promo_type=text.promo_type,
        sub_type=text.sub_type,
        text=text.text,
        starts_at=real_instant(spell.event.time),
        ends_at=real_instant(spell.op_end),
    )
