"""What the moving sandbox tracks: an item's state at one instant, and its campaigns.

:class:`DriftState` holds the SPEC §6.1 fields (``tracked()`` names them like
:func:`jditem.protocol.product.flatten`); two states are equal exactly when those
fields are, so a change of state is a change a history would record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from jditem.server.collectors.jdstyle import Seller

__all__ = ["IN_STOCK_STATES", "TRACKED_FIELDS", "Campaign", "DriftState"]

#: ``StockState`` values meaning "can be bought now" (as the normalizer reads them).
IN_STOCK_STATES = frozenset({33, 39, 40})
#: The SPEC §6.1 fields, as attributes of :class:`DriftState` and keys of ``tracked()``.
TRACKED_FIELDS = (
    "title",
    "shop_id",
    "price_current",
    "price_original",
    "price_promo",
    "price_masked",
    "stock_state",
    "in_stock",
    "on_sale",
    "promotion_texts",
)


@dataclass(frozen=True)
class Campaign:
    """A promotion with a text (a ``promov2`` entry); times in epoch seconds."""

    pid: str
    promo_type: int
    sub_type: int
    text: str
    starts_at: int
    ends_at: int


@dataclass(frozen=True)
class DriftState:
    """An item's tracked state (SPEC §6.1) at one instant; equal states = no change.

    ``seller`` and ``campaigns`` carry what the payload shows beyond the tracked fields
    (shop name, campaign times) and take no part in equality.
    """

    title: str
    price_original: Decimal
    price_promo: Decimal | None
    price_masked: bool
    stock_state: int
    on_sale: bool
    promotion_texts: tuple[str, ...]
    shop_id: str
    seller: Seller = field(compare=False)
    campaigns: tuple[Campaign, ...] = field(compare=False, default=())

    @property
    def price_current(self) -> Decimal | None:
        """The selling price when shown in full, ``None`` while masked."""
        return None if self.price_masked else (self.price_promo or self.price_original)

    @property
    def in_stock(self) -> bool:
        """Whether the item can be bought now (``StockState`` 33, 39 or 40)."""
        return self.stock_state in IN_STOCK_STATES

    def tracked(self) -> dict[str, Any]:
        """The SPEC §6.1 fields (:data:`TRACKED_FIELDS`), promotion texts as a list."""
        values = {name: getattr(self, name) for name in TRACKED_FIELDS}
        values["promotion_texts"] = list(self.promotion_texts)
        return values
