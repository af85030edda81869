"""The shared local result cache."""

from __future__ import annotations

import time
from pathlib import Path

from jditem.batch.cache import ResultCache, origin_of


def test_put_get_age_and_origin(tmp_path: Path) -> None:
    cache = ResultCache.in_home(tmp_path, origin="http://127.0.0.1:1/api/x")
    other = ResultCache.in_home(tmp_path, origin="http://127.0.0.1:2/api/x")
    cache.put("1", "ok", '{"sku_id":"1"}')
    cache.put("2", "not_supported")
    hit = cache.get("1", max_age=60)
    assert hit is not None
    assert hit.status == "ok"
    assert hit.product_json == '{"sku_id":"1"}'
    missing = cache.get("2", max_age=60)
    assert missing is not None
    assert missing.status == "not_supported"
    assert other.get("1", max_age=60) is None
    time.sleep(0.02)
    assert cache.get("1", max_age=0.01) is None
    cache.close()
    other.close()


def test_origin_drops_query_and_fragment() -> None:
    assert origin_of("http://h/api/x?token=secret#f") == "http://h/api/x"
