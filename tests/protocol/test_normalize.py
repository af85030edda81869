"""Product normalizer on the vendor's sample payload and on known shape drift (SPEC §3)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from jditem.protocol import Product
from jditem.protocol.product import FLAT_COLUMNS


def test_identity_and_title(sample: Product) -> None:
    assert sample.sku_id == "100117219515"
    assert sample.product_id == "100117219515"
    assert sample.title == "黛珂AQ舒活凝光轻润型水乳套装200ml 紧致抗皱保湿护肤品 生日礼物"
    assert sample.short_title == "黛珂AQ舒活凝光水乳(轻润型）"
    assert sample.url == "https://item.jd.com/100117219515.html"
    assert sample.sandbox is False


def test_brand_and_category(sample: Product) -> None:
    assert sample.brand.id == "190767"
    assert sample.brand.name == "黛珂（COSME DECORTE）"
    assert sample.category.ids == ["1316", "1381", "1396"]
    assert sample.category.names == ["美妆护肤"]


def test_shop_is_self_operated(sample: Product) -> None:
    assert sample.shop.name == "黛珂（DECORTE）京东自营专区"
    assert sample.shop.shop_id == "1000223736"
    assert sample.shop.vender_id == "1000223736"
    assert sample.shop.is_self_operated is True
    assert sample.shop.shop_type == "self_operated"


def test_masked_price_with_readable_list_and_promo(sample: Product) -> None:
    price = sample.price
    assert price.masked is True
    assert price.current is None
    assert price.display == "6??"
    assert price.original == Decimal("1390.00")
    assert price.promo == Decimal("699.00")
    assert price.discount == Decimal("691.00")
    assert price.currency == "CNY"


def test_stock_and_sale_state(sample: Product) -> None:
    assert sample.availability.stock_state == 33
    assert sample.availability.in_stock is True
    assert sample.availability.on_sale is True


def test_images_are_absolute_https(sample: Product) -> None:
    assert sample.images.main == (
        "https://img30.360buyimg.com/sku/jfs/t1/397608/35/4812/81026/"
        "699d5c21F629d92fa/0083320320a1d39e.jpg"
    )
    assert len(sample.images.gallery) == 2
    assert all(url.startswith("https://") for url in sample.images.gallery)


def test_physical_facts(sample: Product) -> None:
    assert sample.barcodes == ["1001172195159"]
    assert sample.model == "AQ舒活凝光水乳(轻润型）200ml"
    assert sample.weight_kg == Decimal("0.610")
    assert sample.dimensions_mm == [Decimal(194), Decimal(105), Decimal(66)]
    assert sample.origin == "日本"
    assert sample.warranty == "无质保"


def test_delivery_services_returns_promotions(sample: Product) -> None:
    assert sample.delivery_promise == "23:10前付款，预计明天(03月10日)送达"
    codes = [service.code for service in sample.services]
    assert codes == ["sendpay_211", "sendpay_nextday", "service_qitiantuihuo", "s26"]
    assert sample.services[1].name == "明日达"
    assert sample.is_seven_day_return is True
    assert sample.promotions[0]["price"] == "699.00"
    assert sample.promotions[0]["pid"] == "352787071432_1"


def test_raw_keeps_payload(sample_data: dict[str, Any], sample: Product) -> None:
    assert sample.raw == sample_data
    assert "raw" not in repr(sample)


def test_fetched_at_and_sku_argument(data: dict[str, Any]) -> None:
    when = datetime(2026, 11, 28, 10, 15, tzinfo=UTC)
    product = Product.from_payload(data, sku_id="999", fetched_at=when)
    assert product.fetched_at == when
    assert product.sku_id == "100117219515", "the payload's own sku wins over the argument"


def test_whole_envelope_is_unwrapped(sample_data: dict[str, Any]) -> None:
    envelope = {"code": 0, "message": "success", "data": sample_data}
    product = Product.from_payload(envelope)
    assert product.sku_id == "100117219515"
    assert product.raw == envelope


# -- shape drift ----------------------------------------------------------------------


def test_cid_keys_and_int_ids(data: dict[str, Any]) -> None:
    product = data["product"]
    for level in (1, 2, 3):
        product[f"cid{level}"] = int(product.pop(f"cat{level}"))
    del product["category"]
    product["brandId"] = 190767
    product["skuId"] = 100117219515
    result = Product.from_payload(data)
    assert result.category.ids == ["1316", "1381", "1396"]
    assert result.brand.id == "190767"
    assert result.sku_id == "100117219515"


def test_category_string_only(data: dict[str, Any]) -> None:
    for level in (1, 2, 3):
        del data["product"][f"cat{level}"]
    data["product"]["category"] = "1316;1381;1396"
    assert Product.from_payload(data).category.ids == ["1316", "1381", "1396"]


def test_numbers_as_numbers_and_strings(data: dict[str, Any]) -> None:
    product = data["product"]
    product.update({"weight": 0.61, "length": 194, "width": "105.0", "height": "66"})
    data["priceFloor"]["ext"]["realPriceExt"]["ORIGINAL"]["salePrice"] = 1390
    data["stock"]["StockState"] = "34"
    result = Product.from_payload(data)
    assert result.weight_kg == Decimal("0.61")
    assert result.dimensions_mm == [Decimal(194), Decimal("105.0"), Decimal(66)]
    assert result.price.original == Decimal(1390)
    assert result.availability.stock_state == 34
    assert result.availability.in_stock is False


def test_unmasked_price_is_current(data: dict[str, Any]) -> None:
    data["priceFloor"]["price"] = "699.00"
    result = Product.from_payload(data)
    assert result.price.masked is False
    assert result.price.current == Decimal("699.00")


def test_third_party_shop(data: dict[str, Any]) -> None:
    data["stock"]["self_D"]["shopName"] = "某某旗舰店"
    data["product"]["pop"] = True
    result = Product.from_payload(data)
    assert result.shop.is_self_operated is False
    assert result.shop.shop_type == "third_party"


def test_missing_sections_fall_back() -> None:
    result = Product.from_payload({"unrelated": 1}, sku_id="123")
    assert result.sku_id == "123"
    assert result.title == ""
    assert result.url == "https://item.jd.com/123.html"
    assert result.price == type(result.price)()
    assert result.images.main is None
    assert Product.from_payload({}).sku_id == ""
    assert Product.from_payload({}).url == ""


def test_flat_payload_without_product_section() -> None:
    result = Product.from_payload(
        {"skuId": "42", "skuName": "标题", "brandName": "牌子", "upc": 6901234}
    )
    assert (result.sku_id, result.title, result.brand.name) == ("42", "标题", "牌子")
    assert result.barcodes == ["6901234"]


@pytest.mark.parametrize(
    "garbage",
    [
        {"product": "oops", "stock": [], "priceFloor": 3, "promov2": {"pis": 1}},
        {"product": {"skuId": True, "skuName": ["x"], "weight": "abc", "length": None}},
        {"product": {"category": {"a": 1}, "mainImages": [None, 5, {"url": 1}, "\\"]}},
        {"promov2": [{"pis": [{"customtag": "{not json"}, {"customtag": {"p": "NaN"}}]}]},
        {"priceFloor": {"price": {"x": 1}, "ext": {"realPriceExt": {"ORIGINAL": []}}}},
        {"stock": {"StockState": "in stock", "self_D": {"shopName": 7}, "ir": [1, "x"]}},
        {"product": {"colorSize": [{"skuId": 1, "颜色": "红"}, "bad", {"no": "sku"}]}},
        {"sandbox": "yes", "product": {"pop": "maybe", "weight": "1e99999"}},
        {1: "non-string key", "product": {"skuId": float("nan")}},
    ],
)
def test_garbage_types_never_raise(garbage: dict[Any, Any]) -> None:
    product = Product.from_payload(garbage, sku_id="1")
    assert isinstance(product, Product)
    assert set(product.flat()) == set(FLAT_COLUMNS)


def test_variants_from_color_size() -> None:
    result = Product.from_payload(
        {"product": {"skuId": "1", "colorSize": [{"skuId": 2, "颜色": "红"}]}}
    )
    assert result.variants == [{"sku_id": "2", "attrs": {"颜色": "红"}}]


@pytest.mark.parametrize("payload", [None, [], "text", 3, b"{}"])
def test_non_object_payload_is_a_clear_value_error(payload: Any) -> None:
    with pytest.raises(ValueError, match="expected the JSON object"):
        Product.from_payload(payload)


def test_older_price_block_and_category_breadcrumb() -> None:
    payload = {
        "skuId": "7",
        "price": {"p": "¥1,299.00", "op": "1599.00"},
        "category": [{"categoryName": "手机"}, {"name": "手机通讯"}, {"name": None}],
        "product": {"cid1": "9987", "cid2": 653, "cid3": "655"},
        "stock": {"StockState": 36, "promiseResult": "预订&amp;<span>到货</span>  后发货"},
    }
    result = Product.from_payload(payload)
    assert result.price.current == Decimal("1299.00")
    assert result.price.original == Decimal("1599.00")
    assert result.price.masked is False
    assert result.category.ids == ["9987", "653", "655"]
    assert result.category.names == ["手机", "手机通讯"]
    assert result.availability.in_stock is False
    assert result.delivery_promise == "预订&到货 后发货"
