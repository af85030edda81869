"""The bundled sandbox catalog: real CSV facts round-trip, synthetic ids are deterministic."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from jditem.protocol import Product, has_product_fields
from jditem.server.collectors import catalog
from jditem.server.collectors.catalog import build_payload, catalog_skus, mask_price

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = Path("/work/shared/samples")
FIXTURE = ROOT / "tests" / "fixtures" / "jd-detail-v1-abridged.json"
CATALOG_JSON = ROOT / "src" / "jditem" / "server" / "collectors" / "data" / "catalog.json"


def _csv_rows() -> list[dict[str, str]]:
    """The CSV rows, rebuilt from the bundled catalog when the shared samples are absent."""
    path = SAMPLES / "jd-sku-facts.csv"
    if path.exists():
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    items = json.loads(CATALOG_JSON.read_text(encoding="utf-8"))["items"]
    return [
        {
            "sku_id": item["sku_id"],
            "title": item["title"],
            "brand": item["brand_name"],
            "price_cny": item["price_promo"] or item["price_original"],
            "upc": item["upc"],
            "in_stock": "true" if item["in_stock"] else "false",
            "shop_name": item["shop_name"] if item["shop_known"] else "",
            "weight_kg": item["weight_kg"],
        }
        for item in items
    ]


CSV_ROWS = _csv_rows()


def test_catalog_lists_every_csv_sku() -> None:
    assert catalog_skus() == [row["sku_id"] for row in CSV_ROWS]
    assert len(catalog_skus()) == 22


@pytest.mark.parametrize("row", CSV_ROWS, ids=[row["sku_id"] for row in CSV_ROWS])
def test_csv_sku_round_trips_through_the_normalizer(row: dict[str, str]) -> None:
    payload = build_payload(row["sku_id"])
    product = Product.from_payload(payload)
    assert product.sku_id == row["sku_id"]
    assert product.title == row["title"]
    assert product.brand.name == row["brand"]
    assert product.brand.id
    assert len(product.category.ids) == 3
    assert Decimal(row["price_cny"]) in (product.price.promo, product.price.original)
    assert product.price.masked is True
    assert product.price.current is None
    assert product.price.display == mask_price(row["price_cny"])
    assert product.barcodes == ([row["upc"]] if row["upc"] else [])
    assert product.availability.in_stock is (row["in_stock"] == "true")
    if row["shop_name"]:
        assert product.shop.name == row["shop_name"]
    if row["weight_kg"]:
        assert product.weight_kg == Decimal(row["weight_kg"])
    assert product.sandbox is True
    assert product.url == f"https://item.jd.com/{row['sku_id']}.html"
    assert product.images.main is None or product.images.main.startswith("https://")
    assert product.delivery_promise is not None
    assert "<" not in product.delivery_promise
    assert has_product_fields(payload)


def test_sample_sku_matches_the_vendor_sample_shape() -> None:
    """The SKU of the vendor sample carries its real ids and the masked/list/promo trio."""
    sample = json.loads(FIXTURE.read_text(encoding="utf-8"))["data"]
    payload = build_payload("100117219515")
    assert set(payload["product"]) <= set(sample["product"])
    assert set(payload["stock"]) <= set(sample["stock"])
    ours, real = Product.from_payload(payload), Product.from_payload(sample)
    for field in ("sku_id", "title", "brand", "category", "barcodes", "weight_kg", "model"):
        assert getattr(ours, field) == getattr(real, field), field
    assert ours.category.ids == ["1316", "1381", "1396"]
    assert ours.dimensions_mm == real.dimensions_mm
    assert (ours.shop.shop_id, ours.shop.name) == (real.shop.shop_id, real.shop.name)
    assert ours.shop.is_self_operated is True
    assert ours.price.model_dump() == real.price.model_dump()
    assert ours.images.main == real.images.main
    assert ours.availability == real.availability
    assert payload["priceFloor"]["price"] == "6??"
    assert "<b>" in payload["stock"]["promiseResult"]


def test_payloads_are_json_and_fresh_copies() -> None:
    first = build_payload("100117219515")
    first["product"]["skuName"] = "changed"
    assert build_payload("100117219515")["product"]["skuName"] != "changed"
    assert json.loads(json.dumps(first, ensure_ascii=False)) == first


SYNTHETIC_IDS = ["1", "42", "12345678", "100012043978", "99999999999999999999"]


@pytest.mark.parametrize("item_id", SYNTHETIC_IDS)
def test_synthetic_payload_is_deterministic_and_normalizable(item_id: str) -> None:
    payload = build_payload(item_id)
    assert payload == build_payload(item_id)
    assert payload["sandbox"] is True
    product = Product.from_payload(payload)
    assert product.sku_id == item_id
    assert product.title
    assert product.brand.name
    assert product.price.original is not None
    assert product.price.original > 0
    assert product.price.masked is True
    if product.price.promo is not None:
        assert product.price.promo < product.price.original
        assert product.price.discount == product.price.original - product.price.promo
    assert product.availability.stock_state in {33, 34, 36, 39, 40}
    assert product.images.main is not None
    assert product.images.main.startswith("https://img30.360buyimg.com/sku/jfs/")
    assert product.barcodes
    assert product.dimensions_mm is not None
    assert product.sandbox is True


def test_synthetic_products_vary() -> None:
    products = [Product.from_payload(build_payload(str(n))) for n in range(1000, 1040)]
    assert len({p.title for p in products}) > 20
    assert len({p.brand.name for p in products}) > 5
    assert len({p.price.original for p in products}) > 30
    assert len({p.availability.in_stock for p in products}) == 2
    assert {p.price.promo is None for p in products} == {True, False}


@pytest.mark.parametrize("bad", ["", "abc", "-1", "1 2", "１２", "1" * 21])
def test_invalid_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="itemId"):
        build_payload(bad)


@pytest.mark.parametrize(
    ("price", "masked"),
    [("699.00", "6??"), ("5399.00", "5???"), ("42.90", "4?"), ("9.90", "9.??"), (None, "")],
)
def test_mask_price(price: str | None, masked: str) -> None:
    assert mask_price(price) == masked


def test_package_does_not_reference_shared_samples() -> None:
    source = Path(catalog.__file__).read_text(encoding="utf-8")
    assert "/work/shared" not in source
    assert "shared/samples" not in source
    assert "open(" not in source, "package data is read through importlib.resources only"
    data_dir = Path(catalog.__file__).parent / "data"
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert "/work/shared" not in path.read_text(encoding="utf-8")


def test_catalog_loads_from_package_data_in_a_clean_process(tmp_path: Path) -> None:
    """A fresh interpreter in an unrelated cwd builds payloads from the installed package."""
    code = (
        "import json; from jditem.server.collectors.catalog import build_payload, catalog_skus;"
        "print(json.dumps([len(catalog_skus()), build_payload('100117219515')['upc']]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == [22, "1001172195159"]


@pytest.mark.skipif(not SAMPLES.exists(), reason="shared samples folder not present")
def test_bundled_catalog_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_catalog.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _only_json(payload: Any) -> bool:
    if isinstance(payload, dict):
        return all(isinstance(key, str) and _only_json(value) for key, value in payload.items())
    if isinstance(payload, list):
        return all(_only_json(value) for value in payload)
    return payload is None or isinstance(payload, str | int | float | bool)


def test_payload_holds_only_json_types() -> None:
    assert _only_json(build_payload("100117219515"))
    assert _only_json(build_payload("7"))
