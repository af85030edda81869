"""The console's price chart: a step line with gaps and shaded stock-outs, as accessible SVG."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jditem.protocol.monitoring import ChangePoint
from jditem.server.monitor.chart import price_chart
from jditem.server.monitor.tracked import ChangePoint as StoredPoint
from jditem.server.monitor.tracked import TrackedState

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
NS = "{http://www.w3.org/2000/svg}"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def point(hours: float, price: str | None, *, in_stock: bool | None = True) -> ChangePoint:
    at = T0 + hours * HOUR
    return ChangePoint(
        valid_from=at,
        last_confirmed_at=at,
        price_current=None if price is None else Decimal(price),
        price_masked=price is None,
        in_stock=in_stock,
    )


HISTORY = [
    point(0, "699.00"),
    point(20, "649.00"),
    point(40, None),
    point(60, "599.00", in_stock=False),
    point(80, "699.00"),
]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}text")]


def tips(root: ET.Element) -> list[str]:
    """The hover texts, one per span."""
    return [t.text or "" for r in root.iter(f"{NS}rect") if (t := r.find(f"{NS}title")) is not None]


def rects(root: ET.Element, css: str) -> list[ET.Element]:
    return [r for r in root.iter(f"{NS}rect") if r.get("class") == css]


def test_it_is_an_accessible_image() -> None:
    root = parse(price_chart(HISTORY, end=T0 + 120 * HOUR, tz=SHANGHAI, title="黛珂 水乳"))
    assert root.get("role") == "img"
    assert root.get("class") == "chart price-chart"
    assert root.find(f"{NS}title") is not None
    assert root.find(f"{NS}title").text == "黛珂 水乳"  # type: ignore[union-attr]
    label = root.get("aria-label") or ""
    assert label == (
        "黛珂 水乳: price from 599.00 to 699.00 yuan, last 699.00; "
        "price hidden 1 time(s), out of stock 1 time(s)"
    )


def test_every_text_is_escaped() -> None:
    title = '<script>alert("x")</script> & 「618」'
    svg = price_chart(HISTORY, end=T0 + 120 * HOUR, tz=SHANGHAI, title=title)
    assert "<script>" not in svg
    root = parse(svg)
    assert root.find(f"{NS}title").text == title  # type: ignore[union-attr]
    assert (root.get("aria-label") or "").startswith(title)


def test_the_line_steps_and_breaks_where_the_price_was_hidden() -> None:
    root = parse(price_chart(HISTORY, end=T0 + 120 * HOUR, tz=SHANGHAI, title="t"))
    path = next(p for p in root.iter(f"{NS}path") if p.get("class") == "price")
    d = path.get("d") or ""
    assert d.count("M") == 2  # two runs of shown prices: before and after the gap
    assert re.fullmatch(r"(M[\d.]+ [\d.]+(H[\d.]+|V[\d.]+)+)+", d)
    (hidden,) = rects(root, "masked")
    assert float(hidden.get("x") or 0) == pytest.approx(70 + 878 * 40 / 120, abs=0.1)
    assert "2026-03-03 00:00 – 2026-03-03 20:00, price hidden (masked by JD), in stock" in tips(
        root
    )


def test_out_of_stock_spans_are_shaded() -> None:
    root = parse(price_chart(HISTORY, end=T0 + 120 * HOUR, tz=SHANGHAI, title="t"))
    (shade,) = rects(root, "out-of-stock")
    assert "2026-03-03 20:00 – 2026-03-04 16:00, price 599.00, out of stock" in tips(root)
    width = float(shade.get("width") or 0)
    assert width == pytest.approx(878 * 20 / 120, abs=0.1)  # 20 of 120 hours, 878 px wide


def test_days_are_labelled_at_local_midnight_in_the_zone_given() -> None:
    svg = price_chart(HISTORY, end=T0 + 120 * HOUR, tz=SHANGHAI, title="t")
    labels = texts(parse(svg))
    assert [t for t in labels if "-" in t] == ["03-02", "03-03", "03-04", "03-05", "03-06"]
    assert "Times in Asia/Shanghai" in labels
    utc = texts(parse(price_chart(HISTORY, end=T0 + 120 * HOUR, tz=UTC, title="t")))
    assert [t for t in utc if "-" in t] == ["03-01", "03-02", "03-03", "03-04", "03-05", "03-06"]
    assert "Times in UTC" in utc


def test_hours_are_labelled_for_a_short_history() -> None:
    points = [point(0, "10.00"), point(3, "9.50")]
    labels = texts(parse(price_chart(points, end=T0 + 6 * HOUR, tz=SHANGHAI, title="t")))
    assert [t for t in labels if ":" in t] == [
        "03-01 08:00",
        "09:00",
        "10:00",
        "11:00",
        "12:00",
        "13:00",
        "14:00",
    ]
    prices = [Decimal(t) for t in labels if re.fullmatch(r"[\d.]+", t)]
    assert prices == sorted(prices)
    assert len(prices) >= 3
    assert prices[0] <= Decimal("9.50")
    assert prices[-1] >= Decimal("10.00")


def test_a_daylight_saving_change_gives_one_tick_per_hour_of_real_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 3, 29, 0, tzinfo=UTC)  # 02:00 local becomes 03:00
    points = [ChangePoint(valid_from=start, last_confirmed_at=start, price_current=Decimal(1))]
    labels = texts(parse(price_chart(points, end=start + 4 * HOUR, tz=berlin, title="t")))
    assert [t for t in labels if ":" in t] == ["03-29 01:00", "03:00", "04:00", "05:00", "06:00"]


def test_years_are_shown_when_the_history_crosses_one() -> None:
    start = datetime(2025, 12, 20, tzinfo=UTC)
    points = [ChangePoint(valid_from=start, last_confirmed_at=start, price_current=Decimal(5))]
    labels = texts(parse(price_chart(points, end=start + 30 * 24 * HOUR, tz=UTC, title="t")))
    assert "2025-12-21" in labels or "2025-12-20" in labels
    assert any(t.startswith("2026-01") for t in labels)


def test_no_price_yet_says_so() -> None:
    for points in ([], [point(0, None)]):
        root = parse(price_chart(points, end=T0 + HOUR, tz=UTC, title="t"))
        assert "No data yet" in texts(root)
        assert "no price shown yet" in (root.get("aria-label") or "")


def test_start_clips_the_history() -> None:
    root = parse(price_chart(HISTORY, end=T0 + 120 * HOUR, start=T0 + 70 * HOUR, tz=UTC, title="t"))
    assert "price from 599.00 to 699.00" in (root.get("aria-label") or "")
    assert rects(root, "masked") == []
    (shade,) = rects(root, "out-of-stock")
    assert float(shade.get("x") or 0) == 70.0


def test_stored_points_draw_too() -> None:
    state = TrackedState(
        price_current=Decimal("1.00"),
        price_original=None,
        price_promo=None,
        price_masked=False,
        in_stock=False,
        stock_state=34,
        on_sale=True,
        promotion_texts=(),
        shop_id=None,
        title="t",
    )
    root = parse(price_chart([StoredPoint(T0, T0, state)], end=T0 + HOUR, tz=UTC, title="t"))
    assert len(rects(root, "out-of-stock")) == 1


@settings(derandomize=True, max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 5000),
            st.one_of(st.none(), st.integers(1, 10**8)),
            st.one_of(st.none(), st.booleans()),
        ),
        max_size=30,
    ),
    st.text(max_size=30),
)
def test_any_history_gives_a_well_formed_chart(
    moves: list[tuple[int, int | None, bool | None]], title: str
) -> None:
    points, hours = [], 0
    for gap, cents, stock in moves:
        price = None if cents is None else str(Decimal(cents) / 100)
        points.append(point(hours, price, in_stock=stock))
        hours += gap
    clean = "".join(c for c in title if c.isprintable())
    root = parse(price_chart(points, end=T0 + max(hours, 1) * HOUR, tz=SHANGHAI, title=clean))
    assert root.get("role") == "img"
    for element in root.iter():
        for name in ("x", "y", "width", "height"):
            value = element.get(name)
            if value is not None:
                assert float(value) >= 0
                assert float(value) <= 960


def test_the_promo_and_list_prices_fill_what_the_mask_hides() -> None:
    """JD masks the current price for anonymous visitors but shows the promo and list
    prices (SPEC §3): both are drawn as their own dashed lines, gaps where absent."""
    start = T0
    points = [
        ChangePoint(
            valid_from=start + h * HOUR,
            last_confirmed_at=start + h * HOUR,
            price_masked=True,
            price_promo=None if promo is None else Decimal(promo),
            price_original=Decimal("799.00"),
        )
        for h, promo in ((0, "699.00"), (10, None), (20, "649.00"))
    ]
    root = parse(price_chart(points, end=start + 30 * HOUR, tz=UTC, title="t"))
    paths = {p.get("class"): p.get("d") or "" for p in root.iter(f"{NS}path")}
    assert set(paths) == {"list-price", "promo-price"}  # no current price: no line for it
    assert paths["list-price"].count("M") == 1
    assert paths["promo-price"].count("M") == 2  # broken where no promo price was shown
    assert {"list price", "promo price"} <= set(texts(root))
    label = root.get("aria-label") or ""
    assert "no price shown yet; promo price from 649.00 to 699.00 yuan" in label
    assert (
        "2026-03-01 20:00 – 2026-03-02 06:00, price hidden (masked by JD), promo 649.00, "
        "list 799.00" in tips(root)
    )
