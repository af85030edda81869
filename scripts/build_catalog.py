"""Regenerate the bundled sandbox catalog from the shared samples.

Reads ``jd-sku-facts.csv`` (22 real JD SKUs) and ``jd-detail-v1-abridged.json`` (real ids for
the one SKU it describes) and writes ``src/jditem/server/collectors/data/catalog.json``, the
package data that :mod:`jditem.server.collectors.catalog` loads at run time. The package never
reads the samples folder itself; run this script after the samples change and commit the JSON::

    .venv/bin/python scripts/build_catalog.py [--samples DIR] [--out FILE] [--check]

Facts the CSV lacks are invented *deterministically* (same input → same file):

* brand ids and category ids come from a SHA-256 of the name (the sample payload's real ids
  win where it knows them: brand 190767, category 1316/1381/1396 for 美妆护肤);
* shop and vender ids come from a SHA-256 of the shop name; a SKU without a shop gets
  ``"<brand>京东自营旗舰店"`` when its id looks self-operated (12 digits starting with ``100``)
  and ``"<brand>旗舰店"`` otherwise, with ``shop_known: false``;
* the CSV price becomes the list price; the sample SKU keeps its real list/promo pair
  (1390.00 list, 699.00 promo, 691.00 discount).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SAMPLES = Path("/work/shared/samples")
DEFAULT_OUT = ROOT / "src" / "jditem" / "server" / "collectors" / "data" / "catalog.json"
CATALOG_VERSION = 1
IMAGE_BASE = "https://img30.360buyimg.com/sku/"

#: Word pools for synthetic products, per top-level category (title = brand + adjective + noun),
#: with the list-price range (yuan) the synthetic prices are drawn from.
SYNTHETIC_POOLS: dict[str, dict[str, list[str]]] = {
    "数码": {
        "price_range": ["49.00", "2999.00"],
        "nouns": ["蓝牙耳机", "移动电源", "智能手表", "机械键盘", "无线鼠标", "便携音箱"],
        "adjectives": ["降噪", "超长续航", "轻薄", "旗舰款", "运动款", "2026新款"],
    },
    "食品": {
        "price_range": ["9.90", "299.00"],
        "nouns": ["每日坚果", "挂耳咖啡", "牛肉干", "手工饼干", "蜂蜜", "乌龙茶"],
        "adjectives": ["礼盒装", "家庭装", "原味", "低糖", "中秋送礼", "量贩装"],
    },
    "家居": {
        "price_range": ["19.90", "999.00"],
        "nouns": ["保温杯", "收纳箱", "四件套", "乳胶枕", "香薰机", "不粘锅"],
        "adjectives": ["316不锈钢", "大容量", "北欧风", "抗菌", "简约", "加厚"],
    },
    "服饰": {
        "price_range": ["39.00", "1299.00"],
        "nouns": ["连帽卫衣", "连衣裙", "牛仔裤", "羽绒服", "衬衫", "针织开衫"],
        "adjectives": ["宽松", "修身", "春秋款", "纯棉", "休闲", "高街"],
    },
    "运动": {
        "price_range": ["29.00", "1999.00"],
        "nouns": ["跑步鞋", "冲锋衣", "瑜伽垫", "速干T恤", "登山包", "网球拍"],
        "adjectives": ["防泼水", "透气", "轻量", "专业级", "户外", "减震"],
    },
    "美妆护肤": {
        "price_range": ["39.00", "2499.00"],
        "nouns": ["水乳套装", "精华液", "面霜", "防晒霜", "洁面乳", "面膜"],
        "adjectives": ["补水保湿", "紧致", "舒缓", "提亮", "温和", "修护"],
    },
}

_KNOWN_SAMPLE_CATEGORY_NAME = "美妆护肤"


def stable_int(text: str, low: int, high: int) -> int:
    """A deterministic integer in ``[low, high)`` derived from ``text`` (SHA-256)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return low + int.from_bytes(digest[:8], "big") % (high - low)


def category_ids(name: str) -> list[str]:
    """Three invented category ids (top → leaf) for a category name."""
    return [
        str(stable_int(f"category:{name}:1", 1000, 10000)),
        str(stable_int(f"category:{name}:2", 10000, 20000)),
        str(stable_int(f"category:{name}:3", 20000, 40000)),
    ]


def brand_id(name: str) -> str:
    """An invented JD-style brand id for a brand name."""
    return str(stable_int(f"brand:{name}", 100000, 1000000))


def shop_id(name: str) -> str:
    """An invented JD-style shop/vender id for a shop name."""
    return str(stable_int(f"shop:{name}", 1000000000, 1100000000))


def looks_self_operated(sku_id: str) -> bool:
    """JD's self-operated SKUs are typically 12 digits starting with ``100``."""
    return len(sku_id) == 12 and sku_id.startswith("100")


def money(text: str) -> str | None:
    """``"699"`` → ``"699.00"``; empty or invalid → None."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return str(value.quantize(Decimal("0.01"))) if value.is_finite() and value > 0 else None


def image_path(url: str) -> str:
    """JD's ``imageurl`` form: a path relative to the sku image base when possible."""
    return url[len(IMAGE_BASE) :] if url.startswith(IMAGE_BASE) else url


def dimensions(text: str) -> dict[str, str]:
    """``"194x105x66"`` (length x width x height, mm) → JD's length/width/height strings."""
    parts = [part.strip() for part in text.lower().split("x")]
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return {}
    return dict(zip(("length", "width", "height"), parts, strict=True))


def sample_overlay(samples: Path) -> dict[str, dict[str, Any]]:
    """Real ids and prices from the sample payload, keyed by its SKU."""
    path = samples / "jd-detail-v1-abridged.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    product, price = data["product"], data["priceFloor"]["ext"]["realPriceExt"]
    promo = json.loads(data["promov2"][0]["pis"][0]["customtag"])["p"]
    return {
        str(product["skuId"]): {
            "brand_id": str(product["brandId"]),
            "category_ids": [str(product[f"cat{i}"]) for i in (1, 2, 3)],
            "shop_id": str(product["shopId"]),
            "vender_id": str(product["venderId"]),
            "price_original": money(price["ORIGINAL"]["salePrice"]),
            "price_promo": money(promo),
            "price_discount": money(price["JD"]["discount"]),
            "origin": product.get("productArea") or None,
            "warranty": product.get("wserve") or None,
        }
    }


def build_item(row: dict[str, str], overlay: dict[str, Any]) -> dict[str, Any]:
    """One catalog entry from a CSV row (+ the sample overlay for the same SKU)."""
    sku = row["sku_id"].strip()
    brand = row["brand"].strip()
    category = row["category"].strip()
    price = money(row["price_cny"])
    shop_name = row["shop_name"].strip()
    shop_known = bool(shop_name)
    if not shop_known:
        shop_name = f"{brand}京东自营旗舰店" if looks_self_operated(sku) else f"{brand}旗舰店"
    self_operated = "自营" in shop_name
    main_image = row["main_image"].strip()
    item: dict[str, Any] = {
        "sku_id": sku,
        "title": row["title"].strip(),
        "brand_id": brand_id(brand),
        "brand_name": brand,
        "category_name": category,
        "category_ids": category_ids(category),
        "price_original": price,
        "price_promo": None,
        "price_discount": None,
        "model": row["model"].strip(),
        "weight_kg": row["weight_kg"].strip(),
        "dimensions_mm": dimensions(row["dimensions_mm"]),
        "upc": row["upc"].strip(),
        "image": image_path(main_image) if main_image else "",
        "shop_name": shop_name,
        "shop_known": shop_known,
        "shop_id": shop_id(shop_name),
        "vender_id": shop_id(f"vender:{shop_name}"),
        "self_operated": self_operated,
        "in_stock": row["in_stock"].strip().lower() == "true",
        "origin": None,
        "warranty": None,
    }
    item.update({key: value for key, value in overlay.items() if value is not None})
    return item


def build(samples: Path) -> dict[str, Any]:
    """The whole catalog document."""
    overlay = sample_overlay(samples)
    with (samples / "jd-sku-facts.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    items = [build_item(row, overlay.get(row["sku_id"].strip(), {})) for row in rows]
    known_categories = {item["category_name"]: item["category_ids"] for item in items}
    sample_ids = next(iter(overlay.values()), {}).get("category_ids")
    if sample_ids:
        known_categories[_KNOWN_SAMPLE_CATEGORY_NAME] = sample_ids
    # One id triple per category name, so every SKU of a category agrees.
    for item in items:
        item["category_ids"] = known_categories[item["category_name"]]
    brands: dict[str, list[dict[str, str]]] = {}
    for item in items:
        entry = {"id": item["brand_id"], "name": item["brand_name"]}
        if item["category_name"] in SYNTHETIC_POOLS and entry not in brands.get(
            item["category_name"], []
        ):
            brands.setdefault(item["category_name"], []).append(entry)
    synthetic = [
        {
            "category_name": name,
            "category_ids": known_categories.get(name, category_ids(name)),
            "brands": brands.get(name, []),
            **pools,
        }
        for name, pools in SYNTHETIC_POOLS.items()
    ]
    return {
        "version": CATALOG_VERSION,
        "source": "jd-sku-facts.csv + jd-detail-v1-abridged.json (scripts/build_catalog.py)",
        "items": items,
        "synthetic": synthetic,
    }


def render(document: dict[str, Any]) -> str:
    """Stable JSON text (sorted keys, UTF-8, trailing newline)."""
    return json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` verify) the bundled catalog."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the file is not up to date"
    )
    args = parser.parse_args(argv)
    if not (args.samples / "jd-sku-facts.csv").exists():
        print(
            f"error: {args.samples}/jd-sku-facts.csv not found; pass --samples DIR "
            "pointing at the shared samples folder",
            file=sys.stderr,
        )
        return 2
    text = render(build(args.samples))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date; run scripts/build_catalog.py", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text.encode())} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
