"""The bundled sandbox catalog: JD-shaped payloads for any valid item id, without the network.

``build_payload(item_id)`` answers in exactly the shape of JD's mobile item-page JSON (the
vendor's ``data``; see ``samples/jd-detail-v1-abridged.json``): ``product``, ``priceFloor``
(with a masked price such as ``"6??"`` next to the readable list price), ``promov2``, ``stock``
(with ``StockState``, an HTML ``promiseResult`` and ``self_D``) and ``category``.

* The 22 SKUs of ``data/catalog.json`` (built by ``scripts/build_catalog.py`` from the shared
  ``jd-sku-facts.csv``) carry their real title, brand, price, model, weight, dimensions, UPC,
  image, shop and stock flag; ids the CSV lacks (brand, category, shop) are invented
  deterministically from the names.
* Any other valid id gets a synthetic product seeded by the id: the same id always gives the
  same payload; titles, brands, prices and stock states vary between ids.

``build_payload`` is ``render_payload(item_facts(item_id))``: the flat facts, then the JD
shape. The moving sandbox (:mod:`.drift`) changes the facts before rendering them.

Every payload carries ``"sandbox": true`` at the top level — catalog SKUs too: their facts are
real snapshots, but they are not live JD data and must never be mistaken for it.

The catalog is package data loaded once (lazily) with :mod:`importlib.resources`; nothing here
reads outside the installed package, and nothing does I/O beyond that one read.
"""

from __future__ import annotations

import hashlib
import json
import random
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from jditem.protocol.ids import item_id_problem

__all__ = [
    "build_payload",
    "catalog_skus",
    "item_facts",
    "load_catalog",
    "mask_price",
    "render_payload",
    "stable_int",
]

_IMAGE_BASE = "https://img30.360buyimg.com/sku/"
_CENT = Decimal("0.01")
#: JD ``StockState`` values the synthetic products draw from (33 in stock, 34 out of stock,
#: 36 pre-order, 40 in stock with delay), weighted towards "in stock".
_SYNTHETIC_STOCK = (33, 33, 33, 33, 33, 33, 40, 39, 34, 36)
_IN_STOCK, _OUT_OF_STOCK = 33, 34


@cache
def load_catalog() -> dict[str, Any]:
    """The parsed ``data/catalog.json`` (read once per process)."""
    source = resources.files("jditem.server.collectors").joinpath("data", "catalog.json")
    document: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    return document


@cache
def _items_by_sku() -> dict[str, dict[str, Any]]:
    return {str(item["sku_id"]): item for item in load_catalog()["items"]}


def catalog_skus() -> list[str]:
    """The SKU ids with real facts in the bundled catalog, in catalog order."""
    return list(_items_by_sku())


def build_payload(item_id: str) -> dict[str, Any]:
    """A JD-shaped item payload for ``item_id`` (a fresh dict on every call).

    Raises :class:`ValueError` when ``item_id`` is not 1-20 ASCII digits.
    """
    return render_payload(item_facts(item_id))


def item_facts(item_id: str) -> dict[str, Any]:
    """The flat facts behind ``item_id``'s payload (a fresh dict): the catalog's, or synthetic.

    Raises :class:`ValueError` when ``item_id`` is not 1-20 ASCII digits.
    """
    problem = item_id_problem(item_id)
    if problem is not None:
        raise ValueError(f"cannot build a sandbox payload: {problem}")
    item = _items_by_sku().get(item_id)
    return dict(item) if item is not None else _synthetic_item(item_id)


def mask_price(price: str | None) -> str:
    """JD's anonymous-visitor mask: ``"699.00"`` → ``"6??"``, ``"5399.00"`` → ``"5???"``.

    A price under 10 yuan keeps its first digit and masks the cents (``"9.90"`` → ``"9.??"``),
    so that the mask still reads as one.
    """
    if not price:
        return ""
    whole = price.split(".", 1)[0]
    if len(whole) == 1:
        return whole + ".??"
    return whole[0] + "?" * (len(whole) - 1)


def stable_int(text: str, low: int, high: int) -> int:
    """A number in ``[low, high)`` fixed by ``text`` (the same text, the same number)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return low + int.from_bytes(digest[:8], "big") % (high - low)


def _synthetic_item(item_id: str) -> dict[str, Any]:
    """Deterministic made-up facts for an id outside the catalog (seeded by the id)."""
    rng = random.Random(f"jditem-sandbox:{item_id}")
    group = rng.choice(load_catalog()["synthetic"])
    brands = group["brands"] or [{"id": str(rng.randrange(100000, 1000000)), "name": "京选"}]
    brand = rng.choice(brands)
    noun, adjective = rng.choice(group["nouns"]), rng.choice(group["adjectives"])
    variant = rng.choice(["标准版", "升级版", "礼盒装", "黑色", "白色", "两件套"])
    low, high = (int(Decimal(bound) * 100) for bound in group.get("price_range", ["9.90", "2999"]))
    original = Decimal(rng.randrange(low, high + 1)) / 100
    has_promo = rng.random() < 0.6
    promo = (original * Decimal(rng.randrange(60, 96)) / 100).quantize(_CENT)
    self_operated = rng.random() < 0.7
    shop_name = f"{brand['name']}{'京东自营旗舰店' if self_operated else '官方旗舰店'}"
    length, width, height = (rng.randrange(20, 500) for _ in range(3))
    image_hash = hashlib.sha256(f"image:{item_id}".encode()).hexdigest()
    return {
        "sku_id": item_id,
        "title": f"{brand['name']} {adjective}{noun} {variant}",
        "brand_id": brand["id"],
        "brand_name": brand["name"],
        "category_name": group["category_name"],
        "category_ids": group["category_ids"],
        "price_original": str(original.quantize(_CENT)),
        "price_promo": str(promo) if has_promo else None,
        "price_discount": str((original - promo).quantize(_CENT)) if has_promo else None,
        "model": f"{noun[:2].upper()}-{rng.randrange(100, 1000)}",
        "weight_kg": str(Decimal(rng.randrange(50, 5000)) / 1000),
        "dimensions_mm": {"length": str(length), "width": str(width), "height": str(height)},
        "upc": str(stable_int(f"upc:{item_id}", 6900000000000, 6999999999999)),
        "image": (
            f"jfs/t1/{rng.randrange(1000, 600000)}/{rng.randrange(1, 40)}/"
            f"{rng.randrange(100, 20000)}/{rng.randrange(10000, 300000)}/"
            f"{image_hash[:8]}F{image_hash[8:17]}/{image_hash[17:33]}.jpg"
        ),
        "shop_name": shop_name,
        "shop_id": str(stable_int(f"shop:{shop_name}", 1000000000, 1100000000)),
        "vender_id": str(stable_int(f"shop:vender:{shop_name}", 1000000000, 1100000000)),
        "self_operated": self_operated,
        "stock_state": rng.choice(_SYNTHETIC_STOCK),
        "origin": rng.choice(["中国大陆", "中国大陆", "中国大陆", "日本", "德国", "美国"]),
        "warranty": rng.choice(["一年质保", "无质保", "两年质保", ""]),
        "cutoff": f"{rng.choice([11, 15, 21, 23])}:{rng.choice(['00', '10', '30'])}",
    }


def _absolute_image(path: str) -> str:
    if path.startswith(("https://", "http://")):
        return "https://" + path.split("://", 1)[1]
    return _IMAGE_BASE + path.lstrip("/") if path else ""


def render_payload(facts: dict[str, Any]) -> dict[str, Any]:
    """Assemble the JD mobile item-page shape from flat catalog facts.

    Beyond the catalog's own keys, three optional ones let the drift
    (:mod:`jditem.server.collectors.drift`) show what it moved: ``price_masked`` (default
    true: the current price as ``"6??"``; false shows it in full), ``on_sale`` (default
    true: ``skuStatus`` ``"1"``) and ``promotions`` (campaigns with a text, each a dict of
    ``pid``, ``promo_type``, ``sub_type``, ``text``, ``starts_at``, ``ends_at`` in epoch
    seconds), appended to ``promov2`` after the direct price cut.
    """
    sku = str(facts["sku_id"])
    cats = [str(cat) for cat in facts["category_ids"]]
    dims = facts.get("dimensions_mm") or {}
    stock_state = facts.get("stock_state")
    if stock_state is None:
        stock_state = _IN_STOCK if facts.get("in_stock", True) else _OUT_OF_STOCK
    shop_id, vender_id = str(facts["shop_id"]), str(facts["vender_id"])
    image = str(facts.get("image") or "")
    # List price when known, else the single price; the current price stays masked like JD's
    # anonymous page ("6??"), while the promo (customtag) and list price remain readable.
    original, promo = facts.get("price_original"), facts.get("price_promo")
    shown = promo or original
    display = mask_price(shown) if facts.get("price_masked", True) else (shown or "")
    real_price_ext: dict[str, Any] = {"ORIGINAL": {"salePrice": original or ""}}
    if promo:
        real_price_ext["JD"] = {
            "discount": facts.get("price_discount") or "",
            "limit": False,
            "overlying": False,
        }
    product: dict[str, Any] = {
        "skuId": sku,
        "skuName": facts["title"],
        "imageurl": image,
        "category": ",".join(cats),
        **{f"cat{index}": cat for index, cat in enumerate(cats, start=1)},
        "skuStatus": "1" if facts.get("on_sale", True) else "0",
        "venderId": vender_id,
        "shopId": shop_id,
        "width": dims.get("width", ""),
        "height": dims.get("height", ""),
        "length": dims.get("length", ""),
        "weight": facts.get("weight_kg") or "",
        "brandId": str(facts["brand_id"]),
        "brandName": facts["brand_name"],
        "cBrand": facts["brand_name"],
        "upc": facts.get("upc") or "",
        "model": facts.get("model") or "",
        "productArea": facts.get("origin") or "",
        "wserve": facts.get("warranty") or "",
        "productId": sku,
        "pop": not facts.get("self_operated", False),
        "extend": {"is7ToReturn": "1", "isJDMarket": "1" if facts.get("self_operated") else "0"},
        "mainImages": [_absolute_image(image)] if image else [],
    }
    pis: list[dict[str, Any]] = []
    if promo:
        pis.append(
            {
                "customtag": json.dumps({"p": promo}),
                "pid": f"{stable_int('pid:' + sku, 10**11, 10**12)}_1",
                "promoType": 1,
                "subPromoType": 1001,
            }
        )
    pis.extend(
        {
            "pid": campaign["pid"],
            "promoType": campaign["promo_type"],
            "subPromoType": campaign["sub_type"],
            "content": campaign["text"],
            "st": str(campaign["starts_at"]),
            "d": str(campaign["ends_at"]),
        }
        for campaign in facts.get("promotions", ())
    )
    promov2 = [{"id": sku, "pis": pis}] if pis else []
    cutoff = facts.get("cutoff") or "23:10"
    return {
        "sandbox": True,
        "product": product,
        "priceFloor": {
            "price": display,
            "ext": {"jdPrice": display, "realPriceExt": real_price_ext},
        },
        "promov2": promov2,
        "stock": {
            "skuId": sku,
            "StockState": stock_state,
            "promiseResult": (
                f"{cutoff}前付款，预计<b>明天</b>送达"
                if stock_state in (33, 39, 40)
                else "<b>该商品暂时无货</b>"
                if stock_state == _OUT_OF_STOCK
                else "预订商品，<b>到货后</b>发货"
            ),
            "ir": [
                {
                    "iconCode": "sendpay_nextday",
                    "showName": "明日达",
                    "iconTip": "指定时间前下单，最快明日达",
                }
            ],
            "self_D": {
                "venderId": int(vender_id),
                "shopId": int(shop_id),
                "shopName": facts["shop_name"],
                "vender": facts["shop_name"],
                "shopWebsite": f"https://mall.jd.com/index-{shop_id}.html",
            },
        },
        "category": {
            "categoryId": int(cats[0]),
            "categoryName": facts.get("category_name") or "",
            "fatherCategoryId": 0,
        },
        "upc": facts.get("upc") or "",
    }
