"""The normalized product model (SPEC §3) and its flat form (:func:`flatten`, the
columns of CSV / Parquet / Excel exports). JD's JSON is read by
:mod:`jditem.protocol.normalize`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from jditem.protocol.normalize import product_fields
from jditem.protocol.parts import (
    Availability,
    Brand,
    Category,
    Images,
    Price,
    Service,
    Shop,
)

__all__ = [
    "FLAT_COLUMNS",
    "Availability",
    "Brand",
    "Category",
    "Images",
    "Price",
    "Product",
    "Service",
    "Shop",
    "flatten",
]

#: Scalar columns of :func:`flatten`, in output order (CSV/Parquet writers rely on it).
FLAT_COLUMNS: tuple[str, ...] = (
    "sku_id",
    "product_id",
    "title",
    "short_title",
    "brand_id",
    "brand_name",
    "category_ids",
    "category_names",
    "shop_id",
    "vender_id",
    "shop_name",
    "is_self_operated",
    "price_current",
    "price_original",
    "price_promo",
    "price_discount",
    "price_masked",
    "price_display",
    "currency",
    "stock_state",
    "in_stock",
    "on_sale",
    "image_main",
    "image_count",
    "model",
    "upc",
    "weight_kg",
    "dimensions_mm",
    "origin",
    "warranty",
    "delivery_promise",
    "is_seven_day_return",
    "promotion_count",
    "url",
    "fetched_at",
    "sandbox",
)


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
        :mod:`jditem.protocol.normalize`); a payload without a SKU takes ``sku_id``.
        Raises :class:`ValueError` only when ``payload`` is not a JSON object (dict).
        """
        return cls(**product_fields(payload, sku_id=sku_id, fetched_at=fetched_at))

    def flat(self) -> dict[str, Any]:
        """Core fields as scalar columns, in :data:`FLAT_COLUMNS` order (CSV/Parquet)."""
        return flatten(self)


def _column(value: Any) -> str | int | bool | None:
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def flatten(product: Product) -> dict[str, str | int | bool | None]:
    """``product`` as one row of scalars keyed by :data:`FLAT_COLUMNS`, in that order.

    Values are ``str``, ``int``, ``bool`` or ``None``; Decimals become strings (``"1390.00"``),
    lists are joined (ids with ``,``, category names with `` > ``, dimensions with ``x``),
    ``fetched_at`` is ISO-8601.
    """
    price, shop = product.price, product.shop
    dims = product.dimensions_mm
    values: dict[str, Any] = {
        "sku_id": product.sku_id,
        "product_id": product.product_id,
        "title": product.title,
        "short_title": product.short_title,
        "brand_id": product.brand.id,
        "brand_name": product.brand.name,
        "category_ids": ",".join(product.category.ids) or None,
        "category_names": " > ".join(product.category.names) or None,
        "shop_id": shop.shop_id,
        "vender_id": shop.vender_id,
        "shop_name": shop.name,
        "is_self_operated": shop.is_self_operated,
        "price_current": price.current,
        "price_original": price.original,
        "price_promo": price.promo,
        "price_discount": price.discount,
        "price_masked": price.masked,
        "price_display": price.display,
        "currency": price.currency,
        "stock_state": product.availability.stock_state,
        "in_stock": product.availability.in_stock,
        "on_sale": product.availability.on_sale,
        "image_main": product.images.main,
        "image_count": len(product.images.gallery),
        "model": product.model,
        "upc": ",".join(product.barcodes) or None,
        "weight_kg": product.weight_kg,
        "dimensions_mm": "x".join(str(side) for side in dims) if dims else None,
        "origin": product.origin,
        "warranty": product.warranty,
        "delivery_promise": product.delivery_promise,
        "is_seven_day_return": product.is_seven_day_return,
        "promotion_count": len(product.promotions),
        "url": product.url,
        "fetched_at": product.fetched_at,
        "sandbox": product.sandbox,
    }
    return {column: _column(values[column]) for column in FLAT_COLUMNS}
