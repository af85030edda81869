"""The parts of a normalized product (SPEC §3): brand, category, shop, price, stock,
images, services. :mod:`jditem.protocol.product` assembles them into ``Product``."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field


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
