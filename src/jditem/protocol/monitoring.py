"""Monitoring on the wire (SPEC §6): history, change events, the change feed, watch lists.

What the API answers and the client parses. Pydantic only, like the rest of
:mod:`jditem.protocol`; every model ignores fields it does not know (a newer server may
add some) and has camelCase JSON names (``validFrom``, ``hasMore``) while Python code
uses snake_case (``valid_from``); :meth:`WireModel.to_wire` gives the JSON object.

**Money is a decimal string of yuan** (``"699.00"``, ``"5.0000"``), never a JSON number:
most JSON parsers (JavaScript's, Python's ``json`` by default) read numbers as binary
floats, in which 0.01 or 0.1 has no exact value, so a budget or a price would not
survive a round trip exactly. A string keeps every digit; yuan (not the ledger's minor
unit of 0.0001 CNY, SPEC §2.5) is what JD shows and what people type, and prices keep
the digits JD gave (``Product`` holds them as :class:`~decimal.Decimal` yuan too).
Parsing accepts a string or a number; writing always gives plain notation (never
``"1E+2"``).

Models: :class:`ChangePoint` and :class:`ItemHistory` (SPEC §6.1), :class:`FieldChange`,
:class:`RuleMatch`, :class:`ChangeEvent` and :class:`ChangesPage` (§6.3), :class:`WatchSchedule`,
:class:`WatchRules`, :class:`WatchListStatus` and :class:`WatchList` (§6.2–6.4).
A tracked field is named everywhere (``FieldChange.field``, CSV columns) by its
snake_case name in :data:`TRACKED_FIELDS`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    computed_field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

__all__ = [
    "TRACKED_FIELDS",
    "ChangeEvent",
    "ChangeKind",
    "ChangePoint",
    "ChangesPage",
    "DecimalText",
    "FieldChange",
    "ItemHistory",
    "LedgerYuan",
    "PausedReason",
    "RuleMatch",
    "WatchList",
    "WatchListStatus",
    "WatchRules",
    "WatchSchedule",
    "WireModel",
    "Yuan",
    "plain_decimal",
]

#: The SPEC §6.1 tracked fields, as attributes of :class:`ChangePoint` (and the server's
#: tracked state) and as the values of :attr:`FieldChange.field`.
TRACKED_FIELDS = (
    "price_current",
    "price_original",
    "price_promo",
    "price_masked",
    "in_stock",
    "stock_state",
    "on_sale",
    "promotion_texts",
    "shop_id",
    "title",
)


def plain_decimal(value: Decimal) -> str:
    """A decimal as written on the wire: plain notation, the digits it has (``"699.00"``)."""
    return format(value, "f")


#: A decimal: :class:`~decimal.Decimal` in Python, a decimal string in JSON.
DecimalText = Annotated[Decimal, PlainSerializer(plain_decimal, return_type=str, when_used="json")]
#: A yuan amount (a :data:`DecimalText`).
Yuan = DecimalText
#: A yuan amount the ledger can hold exactly: ≥ 0, at most 4 decimals (0.0001 CNY).
LedgerYuan = Annotated[Yuan, Field(ge=0, decimal_places=4)]


class WireModel(BaseModel):
    """Base of the monitoring models: camelCase in JSON, unknown fields ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, alias_generator=to_camel)

    def to_wire(self) -> dict[str, Any]:
        """The JSON object as sent on the wire (camelCase keys, money as strings)."""
        return self.model_dump(by_alias=True, mode="json")


def _text_id(value: Any) -> Any:
    """Ids are text; accept a number for one (``42`` → ``"42"``), never a boolean."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class ChangeKind(StrEnum):
    """What an event means for a buyer (SPEC §6.3); an event may have several or none."""

    PRICE_DROP = "price_drop"
    PRICE_RISE = "price_rise"
    NEW_LOW = "new_low"  # lower than every known price over 30/90/180 days (newLowDays)
    OUT_OF_STOCK = "out_of_stock"
    BACK_IN_STOCK = "back_in_stock"
    PROMOTION_STARTED = "promotion_started"
    PROMOTION_ENDED = "promotion_ended"
    TITLE_CHANGED = "title_changed"


class PausedReason(StrEnum):
    """Why a watch list is not checking (SPEC §6.2); all but ``user`` clear by themselves."""

    LIST_BUDGET = "list_budget"  # the list's daily budget is spent (resumes the next day)
    TOKEN_BUDGET = "token_budget"  # noqa: S105 - a reason, not a secret; the token's budget is spent (602)
    QUOTA = "quota"  # the token's daily quota is used up (303; resumes the next day)
    BALANCE = "balance"  # the account's balance is too low (601)
    USER = "user"  # paused by a person (resumes when one resumes it)


# --- history (SPEC §6.1) -----------------------------------------------------------------


class ChangePoint(WireModel):
    """One state of an item's tracked fields, from ``valid_from`` until the next point.

    ``last_confirmed_at`` is the last observation that found this same state (Keepa's
    "last update" apart from "last change"). While JD masks the current price
    (``price_masked``) it is unknown: ``price_current`` is null and a chart leaves a gap
    until the next point that shows it; a masked price is never a change.
    """

    valid_from: datetime
    last_confirmed_at: datetime
    price_current: Yuan | None = None
    price_original: Yuan | None = None
    price_promo: Yuan | None = None
    price_masked: bool = False
    in_stock: bool | None = None
    stock_state: int | None = None
    on_sale: bool | None = None
    promotion_texts: list[str] = Field(default_factory=list)
    shop_id: str | None = None
    title: str = ""

    @field_validator("shop_id", mode="before")
    @classmethod
    def _shop_id_text(cls, value: Any) -> Any:
        return _text_id(value)

    @property
    def known_price(self) -> Decimal | None:
        """The current price when this point shows it, else ``None`` (masked or absent)."""
        return None if self.price_masked else self.price_current


class ItemHistory(WireModel):
    """An item's history as one account received it: change points, oldest first.

    ``has_more``: older points exist than those given (a limit cut them off); ask again
    with ``until`` set to the first point's ``valid_from`` minus a moment to page back.
    """

    item_id: str
    points: list[ChangePoint] = Field(default_factory=list)
    has_more: bool = False

    @field_validator("item_id", mode="before")
    @classmethod
    def _item_id_text(cls, value: Any) -> Any:
        return _text_id(value)


# --- change events and the feed (SPEC §6.3) ----------------------------------------------


class FieldChange(WireModel):
    """One tracked field's change: ``field`` (a name in :data:`TRACKED_FIELDS`), before, after.

    Values as in :class:`ChangePoint`'s JSON: prices as yuan strings, flags as booleans,
    the stock state as a number, promotion texts as a list. A current price's ``before``
    is the last price shown before it, carried over masked observations.
    """

    field: str
    before: str | bool | int | list[str] | None = None
    after: str | bool | int | list[str] | None = None


class RuleMatch(WireModel):
    """What one watch list's rules made of an event: ``notify`` when some of its ``kinds``
    passed the list's kinds, thresholds and re-arm cooldown (SPEC §6.3)."""

    list_id: str
    name: str
    notify: bool = False
    kinds: list[str] = Field(default_factory=list)
    """The kinds that notify for this list (empty when ``notify`` is false)."""

    @field_validator("list_id", mode="before")
    @classmethod
    def _list_id_text(cls, value: Any) -> Any:
        return _text_id(value)


class ChangeEvent(WireModel):
    """A change of an item's tracked state for one account (the first observation is not one).

    ``id`` is ``evt_`` + a ULID (sorts by creation time; the feed's order); ``lists`` the
    ids of the account's watch lists holding the item when it changed, and
    ``rule_matches`` what each one's rules made of it (the feed keeps every event: filter
    on ``notify`` to get what a list's rules select); ``kinds`` values of
    :class:`ChangeKind` (kept as text, so an older client reads kinds a newer server
    adds); ``new_low_days`` the windows (of 30, 90, 180 days) whose lowest known price
    this one undercuts.
    """

    id: str
    item_id: str
    lists: list[str] = Field(default_factory=list)
    observed_at: datetime
    changes: list[FieldChange] = Field(default_factory=list)
    kinds: list[str] = Field(default_factory=list)
    new_low_days: list[int] = Field(default_factory=list)
    title: str | None = None
    rule_matches: list[RuleMatch] = Field(default_factory=list)

    @field_validator("item_id", mode="before")
    @classmethod
    def _item_id_text(cls, value: Any) -> Any:
        return _text_id(value)

    def notifies(self, list_name: str) -> bool:
        """True when the list called ``list_name`` held the item and its rules notified."""
        return any(m.notify for m in self.rule_matches if m.name == list_name)

    @field_validator("lists", mode="before")
    @classmethod
    def _list_ids_text(cls, value: Any) -> Any:
        return [_text_id(v) for v in value] if isinstance(value, list) else value


class ChangesPage(WireModel):
    """A page of the change feed: events in order; ask again with ``cursor`` for the next.

    ``cursor`` is opaque; it is given even when ``has_more`` is false, so a follower
    polls with it later and gets only what happened since.
    """

    events: list[ChangeEvent] = Field(default_factory=list)
    cursor: str | None = None
    has_more: bool = False


# --- watch lists (SPEC §6.2, §6.4) -------------------------------------------------------

#: The most a re-arm cooldown may be: 30 days.
MAX_COOLDOWN_SECONDS = 30 * 86_400


class WatchSchedule(WireModel):
    """A fixed ``interval_seconds``, or adaptive within ``[min, max]_interval_seconds``."""

    interval_seconds: int | None = Field(default=None, gt=0)
    min_interval_seconds: int | None = Field(default=None, gt=0)
    max_interval_seconds: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_form(self) -> WatchSchedule:
        bounds = (self.min_interval_seconds, self.max_interval_seconds)
        if self.interval_seconds is not None:
            if bounds != (None, None):
                raise ValueError(
                    "give either intervalSeconds (a fixed interval) or minIntervalSeconds and "
                    "maxIntervalSeconds (adaptive), not both"
                )
        elif None in bounds:
            raise ValueError(
                "a schedule needs intervalSeconds (fixed) or both minIntervalSeconds and "
                "maxIntervalSeconds (adaptive)"
            )
        elif bounds[0] > bounds[1]:  # type: ignore[operator]  # neither is None here
            raise ValueError(
                f"minIntervalSeconds ({bounds[0]}) must not exceed maxIntervalSeconds ({bounds[1]})"
            )
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def mode(self) -> Literal["fixed", "adaptive"]:
        """``fixed`` or ``adaptive`` (written to JSON; ignored when read back)."""
        return "fixed" if self.interval_seconds is not None else "adaptive"


class WatchRules(WireModel):
    """Which changes of a list notify (SPEC §6.3); the feed keeps every event regardless.

    ``kinds`` that notify (default: all). ``drop_percent``, ``drop_yuan`` and
    ``price_at_most`` narrow ``price_drop`` and ``new_low``: each one set must hold
    (drop ≥ N % of the previous price, drop ≥ N yuan, new price ≤ the target), compared
    exactly. ``cooldown_seconds``: after an item notified a kind, that item's same kind
    stays quiet this long (a flapping price notifies once per cooldown).
    """

    model_config = ConfigDict(frozen=True)

    kinds: list[ChangeKind] = Field(default_factory=lambda: list(ChangeKind))
    drop_percent: DecimalText | None = Field(default=None, gt=0, le=100)
    drop_yuan: Yuan | None = Field(default=None, gt=0)
    price_at_most: Yuan | None = Field(default=None, gt=0)
    cooldown_seconds: int = Field(default=6 * 3600, ge=0, le=MAX_COOLDOWN_SECONDS)

    @field_validator("kinds")
    @classmethod
    def _unique_kinds(cls, value: list[ChangeKind]) -> list[ChangeKind]:
        return [kind for kind in ChangeKind if kind in value]  # declaration order, no repeats


class WatchListStatus(WireModel):
    """Where a watch list stands now: pause state, today's spend, the next check, counts.

    ``spent_today`` is what the list's checks were charged since the local midnight of
    the server's time zone (compare ``WatchList.daily_budget``). ``paused_reason`` says
    why a paused list is not checking.
    """

    paused: bool = False
    paused_reason: PausedReason | None = None
    spent_today: LedgerYuan = Decimal(0)
    next_check_at: datetime | None = None
    last_check_at: datetime | None = None
    last_change_at: datetime | None = None
    items: int = Field(default=0, ge=0)
    items_due: int = Field(default=0, ge=0)
    checks_today: int = Field(default=0, ge=0)
    changes_today: int = Field(default=0, ge=0)


class WatchList(WireModel):
    """A watch list as its account sees it: what, how often, how much, and its status.

    ``token`` names the account's token the checks run under (never the secret);
    ``daily_budget`` is in yuan per local day (at most 4 decimals).
    """

    id: str
    name: str
    token: str
    schedule: WatchSchedule
    daily_budget: LedgerYuan
    rules: WatchRules = Field(default_factory=WatchRules)
    created_at: datetime | None = None
    status: WatchListStatus = Field(default_factory=WatchListStatus)

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return _text_id(value)
