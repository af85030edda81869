"""The normalized product model (SPEC §3) and its tolerant normalizer."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Brand(BaseModel):
    id: str | None = None
    name: str | None = None


class Category(BaseModel):
    """JD's category: ``ids`` of its levels, top first (usually three: ``cat1..cat3``);
    ``names`` as far as the payload names them, top first. JD's item page names only the
    top level (``category.categoryName``), so ``names`` usually holds one name for three
    ids; a payload with ``categoryInfo`` names the whole path."""

    ids: list[str] = Field(default_factory=list)
    names: list[str] = Field(default_factory=list)


class Shop(BaseModel):
    shop_id: str | None = None
    vender_id: str | None = None
    name: str | None = None
    is_self_operated: bool | None = None
    shop_type: str | None = None


class Price(BaseModel):
    """Prices in yuan. ``masked`` is true when JD hid the current price (``"6??"``)."""

    current: Decimal | None = None
    original: Decimal | None = None
    promo: Decimal | None = None
    discount: Decimal | None = None
    masked: bool = False
    display: str | None = None
    currency: str = "CNY"


class Availability(BaseModel):
    stock_state: int | None = None
    in_stock: bool | None = None
    on_sale: bool | None = None


class Images(BaseModel):
    main: str | None = None
    gallery: list[str] = Field(default_factory=list)


class Service(BaseModel):
    code: str | None = None
    name: str | None = None
    tip: str | None = None


class Product(BaseModel):
    """One JD item, normalized. ``raw`` keeps the payload exactly as received."""

    model_config = ConfigDict(extra="ignore")

    sku_id: str
    product_id: str | None = None
    title: str
    short_title: str | None = None
    brand: Brand = Field(default_factory=Brand)
    category: Category = Field(default_factory=Category)
    shop: Shop = Field(default_factory=Shop)
    price: Price = Field(default_factory=Price)
    availability: Availability = Field(default_factory=Availability)
    images: Images = Field(default_factory=Images)
    model: str | None = None
    barcodes: list[str] = Field(default_factory=list)
    weight_kg: Decimal | None = None
    dimensions_mm: list[Decimal] | None = None
    origin: str | None = None
    warranty: str | None = None
    delivery_promise: str | None = None
    services: list[Service] = Field(default_factory=list)
    is_seven_day_return: bool | None = None
    promotions: list[dict[str, Any]] = Field(default_factory=list)
    variants: list[dict[str, Any]] = Field(default_factory=list)
    sandbox: bool = False
    url: str
    fetched_at: datetime | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    @classmethod
    def from_payload(
        cls, payload: Any, *, sku_id: str | None = None, fetched_at: datetime | None = None
    ) -> Product:
        """Normalize JD's mobile item-page JSON (the envelope's ``data``).

        Never raises on unknown, missing or mistyped fields (see
        :func:`jditem.protocol.normalize.normalize`); a payload without a SKU takes ``sku_id``.
        Raises :class:`ValueError` only when ``payload`` is not a JSON object (dict).
        """
        from jditem.protocol.normalize import normalize

        return normalize(payload, sku_id=sku_id, fetched_at=fetched_at)

    def flat(self) -> dict[str, Any]:
        """Core fields as scalar columns, in ``normalize.FLAT_COLUMNS`` order (CSV/Parquet)."""
        from jditem.protocol.normalize import flatten

        return flatten(self)
