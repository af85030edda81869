"""Property tests: ``normalize`` never raises on any JSON object (SPEC §3, "tolerant")."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jditem.protocol import Product
from jditem.protocol.product import FLAT_COLUMNS

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "jd-detail-v1-abridged.json"

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["6??", "1390.00", "0", "-1", "jfs/t1/a.jpg", "//h/a", '{"p":"1"}'])
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
#: Keys the normalizer reads, so the fuzzer hits the interesting paths, not just unknown keys.
KNOWN_KEYS = st.sampled_from(
    [
        "product", "priceFloor", "stock", "promov2", "category", "upc", "skuId", "skuName",
        "shareInfo", "sandbox", "data", "colorSize", "images", "price", "shopInfo",
        "ext", "realPriceExt", "ORIGINAL", "JD", "salePrice", "discount", "pis", "customtag",
        "StockState", "self_D", "shopName", "ir", "promiseYX", "unifiedServiceTag", "tsfw",
        "imageurl", "mainImages", "weight", "length", "width", "height", "cat1", "cid2",
        "brandId", "brandName", "extend", "features", "is7ToReturn", "pop", "promiseResult",
    ]
)  # fmt: skip
SHAPED = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(KNOWN_KEYS | st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=30,
)


def _check(payload: dict[str, Any]) -> None:
    product = Product.from_payload(payload, sku_id="100")
    assert isinstance(product, Product)
    row = product.flat()
    assert tuple(row) == FLAT_COLUMNS
    assert all(value is None or isinstance(value, str | int | bool) for value in row.values())
    assert product.raw == payload


@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.dictionaries(st.text(max_size=10), JSON, max_size=6))
def test_never_raises_on_arbitrary_json_objects(payload: dict[str, Any]) -> None:
    _check(payload)


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.dictionaries(KNOWN_KEYS, SHAPED, max_size=8))
def test_never_raises_on_jd_shaped_garbage(payload: dict[str, Any]) -> None:
    """Keys the normalizer looks up, with values of every JSON type at every depth."""
    _check(payload)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


SAMPLE: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))["data"]
SAMPLE_PATHS = _paths(SAMPLE)


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.tuples(st.sampled_from(SAMPLE_PATHS), JSON), min_size=1, max_size=4))
def test_never_raises_on_the_sample_with_mutated_fields(
    mutations: list[tuple[tuple[Any, ...], Any]],
) -> None:
    """The real sample with any field (at any depth) replaced by any JSON value."""
    payload = copy.deepcopy(SAMPLE)
    for path, value in mutations:
        node: Any = payload
        try:
            for step in path[:-1]:
                node = node[step]
            if isinstance(node, dict | list):
                node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced part of this path
    _check(payload)
