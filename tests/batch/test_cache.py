"""The shared local result cache."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from jditem.batch import cache as cache_module
from jditem.batch.cache import FLUSH_ROWS, ResultCache, origin_of


def test_put_get_age_and_origin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
    later = time.time() + 61
    monkeypatch.setattr(
        cache_module, "time", SimpleNamespace(time=lambda: later, monotonic=time.monotonic)
    )
    assert cache.get("1", max_age=60) is None  # a minute later: too old
    cache.close()
    other.close()


def test_origin_drops_query_and_fragment() -> None:
    assert origin_of("http://h/api/x?token=secret#f") == "http://h/api/x"


def test_writes_are_buffered_seen_at_once_and_written_on_close(tmp_path: Path) -> None:
    """A buffered row is served at once; another process sees it after the group write."""
    cache = ResultCache.in_home(tmp_path, origin="http://127.0.0.1:1")
    other = ResultCache.in_home(tmp_path, origin="http://127.0.0.1:1")
    cache.put("1", "ok", '{"sku_id":"1"}')
    assert cache.get("1", max_age=60) is not None
    assert other.get("1", max_age=60) is None  # not written yet: a crash costs a miss
    for n in range(2, 2 + FLUSH_ROWS):
        cache.put(str(n), "not_supported")
    assert other.get("1", max_age=60) is not None  # a full buffer is written at once
    cache.put("last", "ok", '{"sku_id":"last"}')
    cache.close()
    hit = other.get("last", max_age=60)
    assert hit is not None
    assert hit.product_json == '{"sku_id":"last"}'
    other.close()
