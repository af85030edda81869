"""The moving sandbox (SPEC §6.5): deterministic, heterogeneous, seen through the normalizer.

Every statistical check runs on fixed seeds and fixed ids, so it gives the same answer on
every run; its bounds are wide enough to hold for any seed (see the seeds parametrised).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from statistics import mean, median
from typing import Any

import pytest

from jditem.protocol import Product
from jditem.server.collectors import drift, poisson
from jditem.server.collectors.catalog import build_payload, catalog_skus
from jditem.server.collectors.drift import (
    change_times,
    drifted_payload,
    mean_interval,
    state_at,
)

CST = timezone(timedelta(hours=8))
DAY = timedelta(days=1)
#: An ordinary stretch of time (no sale window) and an item id range to draw from.
FEB = datetime(2026, 2, 1, tzinfo=UTC)
IDS = [str(100_000_000_000 + n * 7919) for n in range(600)]


def tracked(product: Product) -> dict[str, Any]:
    """The SPEC §6.1 fields as a client sees them (texts of the promotions that have one)."""
    return {
        "title": product.title,
        "shop_id": product.shop.shop_id,
        "price_current": product.price.current,
        "price_original": product.price.original,
        "price_promo": product.price.promo,
        "price_masked": product.price.masked,
        "stock_state": product.availability.stock_state,
        "in_stock": product.availability.in_stock,
        "on_sale": product.availability.on_sale,
        "promotion_texts": [p["text"] for p in product.promotions if p["text"]],
    }


def seen(item_id: str, at: datetime | float, seed: int = 0) -> Product:
    return Product.from_payload(drifted_payload(item_id, at, seed))


def samples(ids: list[str], start: datetime, days: int, step_hours: float) -> Iterator[Any]:
    for item_id in ids:
        t = start
        while t < start + days * DAY:
            yield item_id, t, state_at(item_id, t)
            t += timedelta(hours=step_hours)


def drifting(ids: list[str], low: float, high: float) -> list[str]:
    """The ids whose mean interval lies in [low, high) hours."""
    return [i for i in ids if low * 3600 <= mean_interval(i) < high * 3600]


# --- determinism ---------------------------------------------------------------------------


def test_the_same_inputs_give_the_same_state_in_any_order() -> None:
    times = [FEB + timedelta(minutes=37 * n) for n in range(300)]
    forwards = [state_at("100117219515", t).tracked() for t in times]
    backwards = [state_at("100117219515", t).tracked() for t in reversed(times)][::-1]
    assert forwards == backwards
    drift._profile.cache_clear()
    poisson._bucket_times.cache_clear()
    assert [state_at("100117219515", t).tracked() for t in times] == forwards
    assert len({json.dumps(s, default=str) for s in forwards}) > 3  # it does move


SCRIPT = """
import json, sys
from jditem.server.collectors.drift import change_times, state_at
ids, start, end, seed = json.loads(sys.argv[1])
out = {i: [[str(t) for t in change_times(i, start, end, seed)],
           state_at(i, (start + end) / 2, seed).tracked()] for i in ids}
print(json.dumps(out, default=str, sort_keys=True))
"""


def test_another_process_computes_the_same_drift() -> None:
    """No dependence on Python's per-process hash seed, caches or call history."""
    ids, start, end = IDS[:40], FEB.timestamp(), (FEB + 20 * DAY).timestamp()
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    for seed in (0, 7):
        argument = json.dumps([ids, start, end, seed])
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT, argument],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            timeout=120,
        )
        here = {
            i: [
                [str(t) for t in change_times(i, start, end, seed)],
                state_at(i, (start + end) / 2, seed).tracked(),
            ]
            for i in ids
        }
        assert json.loads(result.stdout) == json.loads(json.dumps(here, default=str))


def test_the_seed_changes_the_drift_but_not_the_catalog() -> None:
    first = [change_times(i, FEB, FEB + 10 * DAY, seed=1) for i in IDS[:50]]
    second = [change_times(i, FEB, FEB + 10 * DAY, seed=2) for i in IDS[:50]]
    assert first != second
    assert state_at(IDS[0], FEB, 1).title.endswith(build_payload(IDS[0])["product"]["skuName"])


def test_datetimes_and_epoch_seconds_are_the_same_instant() -> None:
    t = FEB + timedelta(hours=5, seconds=0.75)
    assert state_at(IDS[3], t) == state_at(IDS[3], t.timestamp())
    naive = t.replace(tzinfo=None)
    assert state_at(IDS[3], naive) == state_at(IDS[3], t)  # naive = UTC


def test_an_invalid_id_is_a_value_error() -> None:
    for bad in ("12ab", "", "1" * 21):
        with pytest.raises(ValueError, match="ASCII digits"):
            state_at(bad, FEB)
        with pytest.raises(ValueError, match="ASCII digits"):
            drifted_payload(bad, FEB)


@pytest.mark.parametrize(
    "start",
    [FEB + timedelta(hours=7), datetime(2026, 6, 20, 22, tzinfo=CST)],  # the second: 618 ends
    ids=["ordinary", "window-end"],
)
def test_change_times_are_exactly_the_seconds_where_the_state_changes(start: datetime) -> None:
    item_id = drifting(IDS, 0.01, 1)[0]
    low = int(start.timestamp())
    listed = [int(t.timestamp()) for t in change_times(item_id, start, low + 3 * 3600)]
    found, previous = [], state_at(item_id, low)
    for second in range(low + 1, low + 3 * 3600 + 1):
        state = state_at(item_id, second)
        if state != previous:
            found.append(second)
        previous = state
    assert listed == found
    assert len(found) > 3


def test_change_times_can_keep_to_some_fields() -> None:
    item_id = drifting(IDS, 0.01, 3)[0]
    end = FEB + 10 * DAY
    every = change_times(item_id, FEB, end)
    prices = change_times(item_id, FEB, end, fields=("price_promo", "price_original"))
    unmasked = change_times(item_id, FEB, end, fields=["price_masked"])
    assert prices
    assert unmasked
    assert set(prices) < set(every)
    assert not set(prices) & set(unmasked)  # the selling price never moves with the mask
    for instant in prices:
        before = state_at(item_id, instant - timedelta(seconds=1)).tracked()
        after = state_at(item_id, instant).tracked()
        keys = ("price_promo", "price_original")
        assert [before[k] for k in keys] != [after[k] for k in keys]
    with pytest.raises(ValueError, match=r"unknown tracked field\(s\) price; use title"):
        change_times(item_id, FEB, end, fields=["price"])


# --- the payload shows the state -----------------------------------------------------------


def test_the_normalizer_sees_exactly_the_drifted_state() -> None:
    ids = catalog_skus() + IDS[:120]
    checked = 0
    for item_id, t, state in samples(ids, FEB, days=28, step_hours=41):
        payload = drifted_payload(item_id, t)
        assert payload["sandbox"] is True
        assert tracked(Product.from_payload(payload)) == state.tracked(), (item_id, t)
        checked += 1
    assert checked > 2000


def test_items_that_never_change_serve_the_static_catalog() -> None:
    never = [i for i in catalog_skus() + IDS if mean_interval(i) == 0]
    assert never
    for item_id in never[:20]:
        for t in (FEB, FEB + 100 * DAY, datetime(2026, 6, 18, 12, tzinfo=CST)):
            assert drifted_payload(item_id, t) == build_payload(item_id)
        assert change_times(item_id, FEB, FEB + 365 * DAY) == []


# --- rates -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rates_are_heavy_tailed(seed: int) -> None:
    ids = [str(10**13 + n) for n in range(3000)]
    hours = [mean_interval(i, seed) / 3600 for i in ids]
    share = {
        "never": sum(h == 0 for h in hours) / len(ids),
        "hourly": sum(0 < h <= 3 for h in hours) / len(ids),
        "daily_weekly": sum(24 <= h <= 7 * 24 for h in hours) / len(ids),
        "slow": sum(h > 7 * 24 for h in hours) / len(ids),
    }
    assert 0.07 < share["never"] < 0.13
    assert 0.03 < share["hourly"] < 0.07
    assert 0.65 < share["daily_weekly"] < 0.75
    assert 0.12 < share["slow"] < 0.18
    assert min(h for h in hours if h) < 0.5
    assert max(hours) > 6 * 7 * 24


def test_observed_changes_follow_each_items_rate() -> None:
    """Over four ordinary weeks: hourly items change hundreds of times, slow ones rarely."""
    counts = {i: len(change_times(i, FEB, FEB + 28 * DAY)) for i in IDS}
    assert all(counts[i] == 0 for i in IDS if mean_interval(i) == 0)
    hourly = drifting(IDS, 0.01, 3)
    assert hourly
    assert all(counts[i] > 150 for i in hourly)
    fast_days = [counts[i] for i in drifting(IDS, 24, 48)]
    slow_days = [counts[i] for i in drifting(IDS, 120, 168)]
    slow = [counts[i] for i in drifting(IDS, 7 * 24, 10**6)]
    assert 10 <= median(fast_days) <= 30  # about 28 days / 1.5 days
    assert 2 <= median(slow_days) <= 8  # about 28 days / 6 days
    assert median(slow) <= 3
    assert mean(fast_days) > 2.5 * mean(slow_days)


# --- prices, masking, stock, promotions ------------------------------------------------------


def test_prices_move_both_ways_with_jd_endings() -> None:
    drops = rises = 0
    for item_id in drifting(IDS, 24, 7 * 24)[:80]:
        base = drift._profile(item_id, 0).base
        previous = state_at(item_id, FEB)
        for instant in change_times(item_id, FEB, FEB + 56 * DAY):
            state = state_at(item_id, instant)
            for price, usual in (
                (state.price_promo, base.price_promo),
                (state.price_original, base.price_original),
            ):
                if price is not None and price != usual:
                    assert str(price).split(".")[1] in ("00", "90", "99"), price
            before = previous.price_promo or previous.price_original
            after = state.price_promo or state.price_original
            drops += after < before
            rises += after > before
            previous = state
    assert drops > 100
    assert rises > 100


def test_the_current_price_is_masked_except_in_rare_spells() -> None:
    states = [state for _, _, state in samples(drifting(IDS, 1, 10**6), FEB, 60, 23)]
    unmasked = [s for s in states if not s.price_masked]
    assert 0.01 < len(unmasked) / len(states) < 0.08
    for item_id, t, state in samples(IDS[:150], FEB, 60, 23):
        product = seen(item_id, t)
        display = product.price.display or ""
        if state.price_masked:
            assert product.price.current is None
            assert "?" in display
        else:
            selling = state.price_promo or state.price_original
            assert product.price.current == selling == Decimal(display)


def changes_of(item_id: str, field: str, days: int = 120) -> Iterator[tuple[datetime, Any, Any]]:
    previous = state_at(item_id, FEB)
    for instant in change_times(item_id, FEB, FEB + days * DAY):
        state = state_at(item_id, instant)
        before, after = previous.tracked()[field], state.tracked()[field]
        if before != after:
            yield instant, before, after
        previous = state


def test_stock_runs_out_and_returns() -> None:
    outs = backs = 0
    for item_id in drifting(IDS, 24, 7 * 24)[:100]:
        base = drift._profile(item_id, 0).base.stock_state
        for instant, before, after in changes_of(item_id, "stock_state"):
            if before == base and after in (34, 36):
                outs += 1
                assert not seen(item_id, instant).availability.in_stock
                assert seen(item_id, instant - timedelta(seconds=1)).availability.in_stock
            if after == base:
                backs += 1
                assert seen(item_id, instant).availability.stock_state == base
    assert outs > 20
    assert backs > 20
    out_share = [
        not state.in_stock
        for item_id, _, state in samples(drifting(IDS, 24, 7 * 24)[:150], FEB, 60, 13)
        if drift._profile(item_id, 0).base.in_stock
    ]
    assert 0.04 < sum(out_share) / len(out_share) < 0.16  # 8 % of starts x 1.1 intervals


def test_an_item_the_catalog_has_out_of_stock_comes_back_for_a_while() -> None:
    empty = [i for i in drifting(IDS, 1, 7 * 24) if not drift._profile(i, 0).base.in_stock]
    assert empty
    restocked = [
        instant
        for item_id in empty
        for instant, before, after in changes_of(item_id, "in_stock")
        if after is True
    ]
    assert restocked


def test_promotions_start_and_end_with_their_texts() -> None:
    started = ended = 0
    for item_id in drifting(IDS, 24, 7 * 24)[:60]:
        for instant, before, after in changes_of(item_id, "promotion_texts"):
            product = seen(item_id, instant)
            for text in set(after) - set(before):
                started += 1
                entry = next(p for p in product.promotions if p["text"] == text)
                assert entry["starts_at"] == int(instant.timestamp())
                assert entry["ends_at"] > entry["starts_at"]
                assert not any(
                    p["text"] == text for p in seen(item_id, entry["ends_at"]).promotions
                )
                assert entry["promo_type"] in (4, 10, 15)
            ended += len(set(before) - set(after))
    assert started > 30
    assert ended > 30


def test_titles_and_shops_change_rarely_and_come_back() -> None:
    fields = ("title", "shop_id", "price_promo")
    seen_changes: dict[str, int] = dict.fromkeys(fields, 0)
    for item_id in drifting(IDS, 24, 7 * 24)[:150]:
        base = drift._profile(item_id, 0).base
        previous = state_at(item_id, FEB)
        for instant in change_times(item_id, FEB, FEB + 365 * DAY):
            state = state_at(item_id, instant)
            for field in fields:
                seen_changes[field] += getattr(previous, field) != getattr(state, field)
            if previous.title != state.title:  # a tag comes or goes (or another replaces it)
                assert previous.title.endswith(base.title)
                assert state.title.endswith(base.title)
            if previous.shop_id != state.shop_id:
                assert base.shop_id in (previous.shop_id, state.shop_id)
            previous = state
    assert 0 < seen_changes["shop_id"] < seen_changes["title"] < seen_changes["price_promo"] / 5


# --- sale days ---------------------------------------------------------------------------------


def count(ids: list[str], start: datetime, days: int) -> int:
    return sum(len(change_times(i, start, start + days * DAY)) for i in ids)


def test_sale_days_change_more_often() -> None:
    ids = drifting(IDS, 24, 7 * 24)[:200]
    window = datetime(2026, 6, 15, tzinfo=CST)
    ordinary = datetime(2026, 5, 15, tzinfo=CST)
    assert count(ids, window, 6) > 3 * count(ids, ordinary, 6)  # ×4 around, ×12 on the day
    assert count(ids, datetime(2026, 6, 18, tzinfo=CST), 1) > 6 * count(ids, ordinary, 1)
    singles = datetime(2026, 11, 11, tzinfo=CST)
    assert count(ids, singles, 1) > 6 * count(ids, datetime(2026, 10, 11, tzinfo=CST), 1)


def selling_ratio(ids: list[str], at: datetime) -> float:
    ratios = [
        float((state.price_promo or state.price_original) / state.price_original)
        for state in (state_at(i, at) for i in ids)
    ]
    return mean(ratios)


def test_sale_prices_are_deeper_and_revert_when_the_window_ends() -> None:
    ids = drifting(IDS, 24, 7 * 24)
    end = datetime(2026, 6, 21, tzinfo=CST)
    inside = selling_ratio(ids, end - timedelta(seconds=1))
    before = selling_ratio(ids, datetime(2026, 6, 1, tzinfo=CST))
    after = selling_ratio(ids, end)
    assert inside < before - 0.1
    assert after > inside + 0.1
    texts_in = [t for i in ids for t in state_at(i, end - timedelta(hours=1)).promotion_texts]
    assert any(t.startswith("618大促 ") for t in texts_in)
    for item_id in ids:
        state = state_at(item_id, end)
        assert not any("618" in text for text in state.promotion_texts)
        assert "618" not in state.title
    ends = [c for i in ids for c in change_times(i, end - timedelta(seconds=1), end)]
    assert len(ends) > len(ids) / 3  # the window's end is a change for many items


# --- cost ----------------------------------------------------------------------------------------


def digests_for(item_id: str, at: datetime | float) -> int:
    poisson._bucket_times.cache_clear()
    poisson._event_uniforms.cache_clear()
    drift._spell.cache_clear()
    state_at(item_id, at)
    return poisson._bucket_times.cache_info().misses + poisson._event_uniforms.cache_info().misses


def test_one_state_costs_a_bounded_number_of_digests_whenever_it_is() -> None:
    """O(1): the work for one state does not grow with the distance from any origin."""
    for item_id in drifting(IDS, 0.01, 10**6)[:40]:
        near = digests_for(item_id, FEB)
        far = digests_for(item_id, datetime(9000, 6, 18, 12, tzinfo=UTC))
        assert near < 60
        assert far < 60
