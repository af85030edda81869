"""The tolerant normalizer: JD's mobile item-page JSON → the fields of a
:class:`~jditem.protocol.product.Product` (``Product.from_payload`` builds it).

SPEC §3. :func:`product_fields` never raises on unknown, missing or oddly typed fields: every lookup
goes through small coercion helpers that answer ``None`` (or an empty list) for anything they
cannot read. Only a payload that is not a JSON object at all is refused (``ValueError``), since
there is nothing to keep in ``raw``.

Shape drift accepted: ``cat1..cat3`` or ``cid1..cid3`` or ``category: "1316,1381,1396"``; ids
as strings or ints; numbers as strings (``"0.610"``) or numbers; a whole envelope
(``{"code": 0, "data": {...}}``) instead of its ``data``; a flat payload (``skuId``/``skuName``
at the top level) instead of a ``product`` section.

Where things come from (first readable value wins):

===================  ========================================================================
field                source
===================  ========================================================================
sku_id               product.skuId, skuId, stock.skuId, product.productId, the argument
title                product.skuName, skuName, product.name, shareInfo.title, else ``""``
price.display        priceFloor.price, priceFloor.ext.jdPrice (``"6??"`` → masked)
price.original       priceFloor.ext.realPriceExt.ORIGINAL.salePrice
price.promo          promov2[].pis[].customtag JSON ``{"p": "699.00"}``
price.discount       priceFloor.ext.realPriceExt.JD.discount
availability         stock.StockState (33/39/40 in stock; 34 out, 36 pre-order: not in stock)
shop                 stock.self_D (shopName, shopId, venderId), product.shopId/venderId
images               product.imageurl, product.mainImages (made absolute https)
delivery_promise     stock.promiseResult with HTML stripped
services             stock.ir[], stock.promiseYX, stock.unifiedServiceTag.tsfw[]
===================  ========================================================================
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from jditem.protocol.coerce import (
    ID_SPLIT,
    absolute_image_url,
    as_bool,
    as_dict,
    as_id,
    as_int,
    as_list,
    as_positive,
    as_text,
    first_id,
    first_text,
    strip_html,
    unique,
)
from jditem.protocol.parts import (
    Availability,
    Brand,
    Category,
    Images,
    Price,
    Service,
    Shop,
)

__all__ = ["product_fields"]

#: ``StockState`` values meaning "can be bought now" / "cannot be bought now".
IN_STOCK_STATES = frozenset({33, 39, 40})
OUT_OF_STOCK_STATES = frozenset({34, 36})
# -- sections ---------------------------------------------------------------------------


def _unwrap(payload: dict[str, Any]) -> dict[str, Any]:
    """The product payload: ``payload`` itself, or ``payload["data"]`` of a whole envelope."""
    if "product" in payload or "skuId" in payload or "skuName" in payload:
        return payload
    data = payload.get("data")
    if isinstance(data, dict) and ("product" in data or "skuId" in data or "skuName" in data):
        return data
    return payload


def _product_section(data: dict[str, Any]) -> dict[str, Any]:
    for key in ("product", "wareInfo", "item"):
        section = data.get(key)
        if isinstance(section, dict):
            return section
    return data


def _category(data: dict[str, Any], product: dict[str, Any]) -> Category:
    ids: list[str] = []
    for source in (product.get("category"), data.get("category"), product.get("categoryIds")):
        if isinstance(source, str):
            ids = [part for part in ID_SPLIT.split(source) if as_id(part) is not None]
        elif isinstance(source, list):
            ids = [text for part in source if (text := as_id(part)) is not None]
        if ids:
            break
    if not ids:
        for prefix in ("cat", "cid", "catId", "category"):
            found = [as_id(product.get(f"{prefix}{level}")) for level in (1, 2, 3)]
            ids = [text for text in found if text is not None]
            if ids:
                break
    names: list[str] = []
    for section in (data.get("category"), product.get("categoryInfo")):
        entries = section if isinstance(section, list) else [section]
        for entry in entries:
            name = as_text(as_dict(entry).get("categoryName") or as_dict(entry).get("name"))
            if name is not None:
                names.append(name)
    return Category(ids=unique(ids), names=unique(names))


def _shop(data: dict[str, Any], product: dict[str, Any], stock: dict[str, Any]) -> Shop:
    seller = as_dict(stock.get("self_D")) or as_dict(stock.get("D"))
    shop_info = as_dict(as_dict(data.get("shopInfo")).get("shop")) or as_dict(data.get("shopInfo"))
    name = first_text(seller.get("shopName"), seller.get("vender"), shop_info.get("name"))
    self_operated: bool | None = None
    if name is not None and "自营" in name:
        self_operated = True
    else:
        pop = as_bool(product.get("pop"))
        if pop is not None:
            self_operated = not pop
        elif name is not None:
            self_operated = False
    shop_type = (
        None if self_operated is None else "self_operated" if self_operated else "third_party"
    )
    return Shop(
        shop_id=first_id(seller.get("shopId"), product.get("shopId"), shop_info.get("shopId")),
        vender_id=first_id(
            seller.get("venderId"), product.get("venderId"), shop_info.get("venderId")
        ),
        name=name,
        is_self_operated=self_operated,
        shop_type=shop_type,
    )


def _promo_prices(data: dict[str, Any]) -> Iterable[tuple[dict[str, Any], Decimal | None]]:
    for block in as_list(data.get("promov2")) or as_list(
        as_dict(data.get("promotion")).get("promov2")
    ):
        for entry in as_list(as_dict(block).get("pis")):
            entry = as_dict(entry)
            tag = entry.get("customtag")
            price: Decimal | None = None
            if isinstance(tag, str):
                try:
                    parsed = json.loads(tag)
                except ValueError:
                    parsed = None
                price = as_positive(as_dict(parsed).get("p"))
            elif isinstance(tag, dict):
                price = as_positive(tag.get("p"))
            yield entry, price


def _price(data: dict[str, Any]) -> Price:
    floor = as_dict(data.get("priceFloor"))
    ext = as_dict(floor.get("ext"))
    real = as_dict(ext.get("realPriceExt"))
    old_price = as_dict(data.get("price"))  # older pages: {"p": "699.00", "op": "1390.00"}
    display = first_text(floor.get("price"), ext.get("jdPrice"), old_price.get("p"))
    masked = display is not None and ("?" in display or "*" in display)
    current = None if masked else as_positive(display)
    original = as_positive(as_dict(real.get("ORIGINAL")).get("salePrice")) or as_positive(
        old_price.get("op") or old_price.get("m")
    )
    promo = next((price for _, price in _promo_prices(data) if price is not None), None)
    discount = as_positive(as_dict(real.get("JD")).get("discount"))
    return Price(
        current=current,
        original=original,
        promo=promo,
        discount=discount,
        masked=masked,
        display=display,
    )


def _availability(product: dict[str, Any], stock: dict[str, Any]) -> Availability:
    state = as_int(stock.get("StockState", stock.get("stockState")))
    in_stock = True if state in IN_STOCK_STATES else False if state in OUT_OF_STOCK_STATES else None
    return Availability(
        stock_state=state, in_stock=in_stock, on_sale=as_bool(product.get("skuStatus"))
    )


def _images(data: dict[str, Any], product: dict[str, Any]) -> Images:
    gallery_sources = as_list(product.get("mainImages")) or as_list(data.get("images"))
    gallery = unique(
        url
        for item in gallery_sources
        if (url := absolute_image_url(item if not isinstance(item, dict) else item.get("url")))
    )
    main = absolute_image_url(product.get("imageurl")) or absolute_image_url(product.get("image"))
    return Images(main=main or (gallery[0] if gallery else None), gallery=gallery)


def _services(stock: dict[str, Any]) -> list[Service]:
    found: dict[tuple[str | None, str | None], Service] = {}
    entries = [
        *(as_dict(item) for item in as_list(stock.get("ir"))),
        as_dict(stock.get("promiseYX")),
    ]
    for entry in entries:
        service = Service(
            code=as_text(entry.get("iconCode")),
            name=as_text(entry.get("showName")) or as_text(entry.get("iconSrc")),
            tip=as_text(entry.get("iconTip")),
        )
        if service.code or service.name:
            found.setdefault((service.code, service.name), service)
    for item in as_list(as_dict(stock.get("unifiedServiceTag")).get("tsfw")):
        entry = as_dict(item)
        service = Service(
            code=as_text(entry.get("code")),
            name=as_text(entry.get("name")),
            tip=as_text(entry.get("shortDesc")) or as_text(entry.get("desc")),
        )
        if service.code or service.name:
            found.setdefault((service.code, service.name), service)
    return list(found.values())


def _promotions(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "pid": as_text(entry.get("pid")),
            "promo_type": as_int(entry.get("promoType")),
            "sub_type": as_int(entry.get("subPromoType")),
            "price": str(price) if price is not None else None,
            "text": strip_html(entry.get("content") or entry.get("name")),
            "starts_at": as_int(entry.get("st")),
            "ends_at": as_int(entry.get("d")),
        }
        for entry, price in _promo_prices(data)
    ]


def _variants(data: dict[str, Any], product: dict[str, Any]) -> list[dict[str, Any]]:
    variants: list[dict[str, Any]] = []
    for item in as_list(product.get("colorSize")) or as_list(data.get("colorSize")):
        entry = as_dict(item)
        sku = as_id(entry.get("skuId"))
        if sku is None:
            continue
        attrs = {
            str(key): text
            for key, value in entry.items()
            if key != "skuId" and (text := as_text(value)) is not None
        }
        variants.append({"sku_id": sku, "attrs": attrs})
    return variants


def _barcodes(data: dict[str, Any], product: dict[str, Any]) -> list[str]:
    codes: list[str] = []
    for value in (product.get("upc"), data.get("upc"), product.get("barcode")):
        text = as_text(value)
        if text is not None:
            codes.extend(part for part in ID_SPLIT.split(text) if part)
    return unique(codes)


def _dimensions(product: dict[str, Any]) -> list[Decimal] | None:
    sides = [as_positive(product.get(key)) for key in ("length", "width", "height")]
    if any(side is None for side in sides):
        return None
    return [side for side in sides if side is not None]


def _weight(product: dict[str, Any], stock: dict[str, Any]) -> Decimal | None:
    weight = as_positive(product.get("weight"))
    if weight is None:
        text = as_text(stock.get("weightValue"))
        if text is not None and text.lower().endswith("kg"):
            weight = as_positive(text[:-2])
    return weight


def _raw(payload: Mapping[Any, Any]) -> dict[str, Any]:
    if all(isinstance(key, str) for key in payload):
        return dict(payload)
    return {str(key): value for key, value in payload.items()}


# -- public API ---------------------------------------------------------------------------


def product_fields(
    payload: Any, *, sku_id: str | None = None, fetched_at: datetime | None = None
) -> dict[str, Any]:
    """The fields of a :class:`~jditem.protocol.product.Product` read from a JD item
    payload (the envelope's ``data``): ``Product.from_payload`` builds the product.

    Never raises on unknown, missing or mistyped fields. When the payload names no SKU the
    ``sku_id`` argument is used (``""`` when neither exists, and then ``url`` is ``""``); a
    missing title becomes ``""``. ``raw`` keeps the payload as received.

    Raises :class:`ValueError` only when ``payload`` is not a JSON object (dict).
    """
    if not isinstance(payload, Mapping):
        raise ValueError(
            f"cannot normalize a product from {type(payload).__name__}: expected the JSON "
            "object in the envelope's data field (a dict with product, priceFloor, stock, ...)"
        )
    raw = _raw(payload)
    data = _unwrap(raw)
    product = _product_section(data)
    stock = as_dict(data.get("stock"))
    extend = as_dict(product.get("extend"))
    share = as_dict(data.get("shareInfo"))
    sku = first_id(
        product.get("skuId"), data.get("skuId"), stock.get("skuId"), product.get("productId")
    ) or (as_text(sku_id) or "")
    seven_day = as_bool(extend.get("is7ToReturn"))
    if seven_day is None and as_dict(stock.get("promiseYX")).get("iconCode") == (
        "service_qitiantuihuo"
    ):
        seven_day = True
    return dict(
        sku_id=sku,
        product_id=first_id(product.get("productId"), product.get("erpPid")),
        title=first_text(
            product.get("skuName"), data.get("skuName"), product.get("name"), share.get("title")
        )
        or "",
        short_title=first_text(
            as_dict(extend.get("features")).get("shortTitle"),
            product.get("shortTitle"),
            share.get("shortTitle"),
        ),
        brand=Brand(
            id=first_id(product.get("brandId"), product.get("brand_id")),
            name=first_text(
                product.get("brandName"),
                product.get("cBrand"),
                product.get("brand") if isinstance(product.get("brand"), str) else None,
            ),
        ),
        category=_category(data, product),
        shop=_shop(data, product, stock),
        price=_price(data),
        availability=_availability(product, stock),
        images=_images(data, product),
        model=first_text(product.get("model")),
        barcodes=_barcodes(data, product),
        weight_kg=_weight(product, stock),
        dimensions_mm=_dimensions(product),
        origin=first_text(product.get("productArea")),
        warranty=first_text(product.get("wserve"), product.get("warranty")),
        delivery_promise=strip_html(stock.get("promiseResult")),
        services=_services(stock),
        is_seven_day_return=seven_day,
        promotions=_promotions(data),
        variants=_variants(data, product),
        sandbox=as_bool(raw.get("sandbox", data.get("sandbox"))) is True,
        url=f"https://item.jd.com/{sku}.html" if sku else "",
        fetched_at=fetched_at,
        raw=raw,
    )
