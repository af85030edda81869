"""An item's tracked state (SPEC §6.1), how it is stored, and what changed between two.

Pure: no I/O, no clock reads. The model:

* :class:`TrackedState` holds the SPEC §6.1 fields of one observation, read through the
  one normalizer (:meth:`Product.from_payload`): ``price_current`` (``None`` when JD
  masks it, ``"6??"``, or shows none), ``price_original``, ``price_promo``,
  ``price_masked``, ``in_stock``, ``stock_state``, ``on_sale``, ``promotion_texts``
  (the texts of the promotions that have one, deduplicated and sorted), ``shop_id``,
  ``title``. Two states are equal exactly when those fields are.
* **The masked price is unknown, never a change.** Each state also carries
  ``known_price``: the current price last shown, carried by :func:`carry` through
  observations that do not show it. :func:`diff` compares a shown price with the
  carried one: a masked observation never changes the price; when the price shows
  again, the same price is no change and another price is a ``price_current`` change
  whose ``before`` is the last price shown (it moved at some unknown time in the gap;
  :mod:`.kinds` gives such a change no price kind). ``price_masked`` flipping is never
  a field change either.
* **Change points** (SPEC §6.1): :func:`observe` says whether an observation starts a
  new point (its observed fields differ from the current point's) or only confirms the
  current one (move ``last_confirmed_at``). A mask flip starts a new point with no
  field change, so the history keeps when the price was hidden: a point with
  ``price_masked`` (or no ``price_current``) is a gap from its ``valid_from`` to the
  next point's, which charts leave blank. A point is an event exactly when it has
  field changes (:attr:`Observation.changes`).
* **Storage**: :meth:`TrackedState.encode` is a compact canonical JSON array (equal
  states give equal text; money in plain decimal notation with at least two places),
  with ``known_price`` appended; :func:`decode` reads it back. :attr:`TrackedState.digest`
  (32 hex digits, BLAKE2b of the observed fields only) answers "same state?" without
  loading a point: equal observed fields give equal digests and equal carried prices.
* **Hot path**: normalizing a payload costs tens of µs, so compute the state once per
  stored result, not once per call — best kept next to the cached result itself; else
  :func:`tracked_state_json` memoises it by the result's serialized payload (the cache
  keeps one ``bytes`` object per result, whose hash Python computes once; the memo keeps
  up to 2,048 payloads alive). A call then costs a memo hit and a digest comparison
  (``benchmarks/monitor_tracked.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from jditem.protocol import monitoring as wire
from jditem.protocol.product import Product

__all__ = [
    "ChangePoint",
    "FieldChange",
    "Observation",
    "TrackedState",
    "carry",
    "decode",
    "diff",
    "observe",
    "state_of",
    "tracked_state",
    "tracked_state_json",
]

#: Version of :meth:`TrackedState.encode`'s layout (its first element).
ENCODING_VERSION = 1
_CENTS = Decimal("0.01")
#: Fields :func:`diff` compares as they are (the current price and the mask aside).
_PLAIN_FIELDS = tuple(f for f in wire.TRACKED_FIELDS if f not in ("price_current", "price_masked"))

Value = Decimal | bool | int | str | tuple[str, ...] | None


def _money(value: Decimal | None) -> str | None:
    """Canonical text of a price: equal amounts give equal text (``699`` → ``"699.00"``)."""
    if value is None:
        return None
    if not value.is_finite():
        raise ValueError(f"a tracked price must be a finite decimal, got {value!r}")
    try:
        value = value.normalize()
        if value.as_tuple().exponent > -2:  # type: ignore[operator]  # finite: an int
            value = value.quantize(_CENTS)
    except InvalidOperation:  # too many digits to quantize: the normalized form is canonical
        pass
    return format(value, "f")


def _decimal(text: Any, what: str) -> Decimal | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValueError(f"stored tracked state: {what} must be a decimal string, got {text!r}")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"stored tracked state: {what} is not a decimal: {text!r}") from None


@dataclass(frozen=True, slots=True)
class TrackedState:
    """One observation's SPEC §6.1 fields (see the module); equal observed fields = equal."""

    price_current: Decimal | None
    price_original: Decimal | None
    price_promo: Decimal | None
    price_masked: bool
    in_stock: bool | None
    stock_state: int | None
    on_sale: bool | None
    promotion_texts: tuple[str, ...]
    shop_id: str | None
    title: str
    known_price: Decimal | None = field(default=None, compare=False)
    """The current price last shown: ``price_current`` when shown, else carried (:func:`carry`)."""
    observed: str = field(init=False, compare=False, repr=False)
    """The canonical JSON of the observed fields (:meth:`encode` without ``known_price``)."""
    digest: str = field(init=False, compare=False, repr=False)
    """BLAKE2b-128 of :attr:`observed`, 32 hex digits: equal states, equal digests."""

    def __post_init__(self) -> None:
        observed = json.dumps(
            [
                ENCODING_VERSION,
                _money(self.price_current),
                _money(self.price_original),
                _money(self.price_promo),
                self.price_masked,
                self.in_stock,
                self.stock_state,
                self.on_sale,
                self.promotion_texts,
                self.shop_id,
                self.title,
            ],
            ensure_ascii=False,
            separators=(",", ":"),
        )
        object.__setattr__(self, "observed", observed)
        digest = hashlib.blake2b(observed.encode(), digest_size=16).hexdigest()
        object.__setattr__(self, "digest", digest)
        if self.price_current is not None:  # a shown price is the known one
            object.__setattr__(self, "known_price", self.price_current)

    def encode(self) -> str:
        """The state as stored: :attr:`observed` with ``known_price`` appended."""
        return f"{self.observed[:-1]},{json.dumps(_money(self.known_price))}]"

    def get(self, name: str) -> Value:
        """The value of the tracked field ``name`` (one of :data:`~.wire.TRACKED_FIELDS`)."""
        if name not in wire.TRACKED_FIELDS:
            raise KeyError(f"{name!r} is not a tracked field; use one of {wire.TRACKED_FIELDS}")
        value: Value = getattr(self, name)
        return value


def decode(text: str) -> TrackedState:
    """A state from :meth:`TrackedState.encode`'s text; ``ValueError`` names what is wrong."""
    try:
        values = json.loads(text)
    except ValueError:
        raise ValueError(
            "stored tracked state is not JSON; it was not written by encode()"
        ) from None
    if not isinstance(values, list) or not values or values[0] != ENCODING_VERSION:
        raise ValueError(
            f"stored tracked state must be a JSON array starting with version {ENCODING_VERSION}"
        )
    if len(values) != 12:
        raise ValueError(f"stored tracked state has {len(values)} elements, expected 12")
    _, current, original, promo, masked, in_stock, stock, on_sale, texts, shop, title, known = (
        values
    )
    checks: tuple[tuple[str, Any, Callable[[Any], bool]], ...] = (
        ("price_masked", masked, lambda v: isinstance(v, bool)),
        ("in_stock", in_stock, lambda v: v is None or isinstance(v, bool)),
        ("stock_state", stock, lambda v: v is None or type(v) is int),
        ("on_sale", on_sale, lambda v: v is None or isinstance(v, bool)),
        (
            "promotion_texts",
            texts,
            lambda v: isinstance(v, list) and all(type(t) is str for t in v),
        ),
        ("shop_id", shop, lambda v: v is None or isinstance(v, str)),
        ("title", title, lambda v: isinstance(v, str)),
    )
    for name, value, ok in checks:
        if not ok(value):
            raise ValueError(f"stored tracked state: {name} has an unexpected value {value!r}")
    return TrackedState(
        price_current=_decimal(current, "price_current"),
        price_original=_decimal(original, "price_original"),
        price_promo=_decimal(promo, "price_promo"),
        price_masked=masked,
        in_stock=in_stock,
        stock_state=stock,
        on_sale=on_sale,
        promotion_texts=tuple(texts),
        shop_id=shop,
        title=title,
        known_price=_decimal(known, "known_price"),
    )


def state_of(product: Product) -> TrackedState:
    """The tracked state a normalized product shows (its ``known_price`` is its own)."""
    texts = {p.get("text") for p in product.promotions}
    price, availability = product.price, product.availability
    return TrackedState(
        price_current=price.current,
        price_original=price.original,
        price_promo=price.promo,
        price_masked=price.masked,
        in_stock=availability.in_stock,
        stock_state=availability.stock_state,
        on_sale=availability.on_sale,
        promotion_texts=tuple(sorted(t for t in texts if isinstance(t, str) and t)),
        shop_id=product.shop.shop_id,
        title=product.title,
    )


def tracked_state(payload: Any) -> TrackedState:
    """The tracked state of a code-0 payload (the envelope's ``data``), via the normalizer.

    Raises :class:`ValueError` only when ``payload`` is not a JSON object.
    """
    return state_of(Product.from_payload(payload))


@lru_cache(maxsize=2048)
def tracked_state_json(payload_json: bytes) -> TrackedState:
    """:func:`tracked_state` of a serialized payload, memoised (see the module: hot path).

    Pass the same ``bytes`` object for the same stored result; states are immutable.
    """
    return tracked_state(json.loads(payload_json))


def carry(prev: TrackedState | None, seen: TrackedState) -> TrackedState:
    """``seen`` with the last shown price carried from ``prev`` when it shows none."""
    if seen.price_current is not None or prev is None or prev.known_price is None:
        return seen
    return replace(seen, known_price=prev.known_price)


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One tracked field's change; ``field`` is a name of :data:`~.wire.TRACKED_FIELDS`."""

    field: str
    before: Value
    after: Value

    def to_wire(self) -> wire.FieldChange:
        """As the API shows it (prices as decimal strings, texts as a list)."""
        return wire.FieldChange(
            field=self.field, before=_wire(self.before), after=_wire(self.after)
        )


def _wire(value: Value) -> str | bool | int | list[str] | None:
    if isinstance(value, Decimal):
        return wire.plain_decimal(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def diff(prev: TrackedState, new: TrackedState) -> tuple[FieldChange, ...]:
    """The field changes from ``prev`` to ``new``, in :data:`~.wire.TRACKED_FIELDS` order.

    The current price changes only when ``new`` shows one and it differs from the last
    price shown before (``prev.known_price``); ``price_masked`` is never a change.
    """
    changes = []
    shown, before = new.price_current, prev.known_price
    if shown is not None and before is not None and shown != before:
        changes.append(FieldChange("price_current", before, shown))
    for name in _PLAIN_FIELDS:
        old, value = getattr(prev, name), getattr(new, name)
        if old != value:
            changes.append(FieldChange(name, old, value))
    return tuple(changes)


@dataclass(frozen=True, slots=True)
class Observation:
    """What one observation does to an account's history of an item (see :func:`observe`)."""

    state: TrackedState
    """The state to keep as current: the observation with the carried price."""
    changes: tuple[FieldChange, ...]
    """Field changes since the previous state; non-empty = an event (SPEC §6.3)."""
    new_point: bool
    """Write a new change point (``valid_from`` = now); else move ``last_confirmed_at``."""
    baseline: bool
    """The account's first observation of the item: a point, never an event."""


def observe(prev: TrackedState | None, seen: TrackedState) -> Observation:
    """Fold the observation ``seen`` into the current state ``prev`` (``None``: none yet).

    The common case, nothing changed, is one digest comparison.
    """
    if prev is None:
        return Observation(seen, (), True, True)
    if prev.digest == seen.digest:
        return Observation(prev, (), False, False)
    state = carry(prev, seen)
    return Observation(state, diff(prev, state), True, False)


@dataclass(frozen=True, slots=True)
class ChangePoint:
    """A stored change point: a state from ``valid_from``, last seen at ``last_confirmed_at``.

    ``price_current``, ``price_masked``, ``price_promo``, ``price_original`` and
    ``in_stock`` are the state's, so stored points draw directly
    (:func:`jditem.formats.sparkline.steps`, :mod:`.chart`).
    """

    valid_from: datetime
    last_confirmed_at: datetime
    state: TrackedState

    @property
    def price_current(self) -> Decimal | None:
        return self.state.price_current

    @property
    def price_masked(self) -> bool:
        return self.state.price_masked

    @property
    def price_promo(self) -> Decimal | None:
        return self.state.price_promo

    @property
    def price_original(self) -> Decimal | None:
        return self.state.price_original

    @property
    def in_stock(self) -> bool | None:
        return self.state.in_stock

    def to_wire(self) -> wire.ChangePoint:
        """As the API shows it (:class:`jditem.protocol.monitoring.ChangePoint`)."""
        s = self.state
        return wire.ChangePoint(
            valid_from=self.valid_from,
            last_confirmed_at=self.last_confirmed_at,
            price_current=s.price_current,
            price_original=s.price_original,
            price_promo=s.price_promo,
            price_masked=s.price_masked,
            in_stock=s.in_stock,
            stock_state=s.stock_state,
            on_sale=s.on_sale,
            promotion_texts=list(s.promotion_texts),
            shop_id=s.shop_id,
            title=s.title,
        )
