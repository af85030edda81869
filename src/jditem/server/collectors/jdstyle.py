"""JD's conventions the sandbox drift draws its values from.

Price endings (``.00``, ``.90``, ``.99``, ``…9.00``), campaign texts (满减, 每满减, 满件折,
赠品) with thresholds sized to the item's price, title tags, and the brand's other seller.
Every function is pure: the same draws (uniforms in ``[0, 1)``) give the same value.
"""

from __future__ import annotations

import math
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import NamedTuple

from jditem.server.collectors.catalog import stable_int

__all__ = ["CampaignText", "Seller", "campaign_text", "jd_price", "other_seller", "title_tag"]

_CENT = Decimal("0.01")
_NINETY, _NINETY_NINE = Decimal("0.90"), Decimal("0.99")
TITLE_TAGS = ("【热销】", "【新品】", "【官方正品】", "【限时特惠】")
GIFTS = ("精美礼盒", "品牌帆布袋", "保温杯一个", "试用装一份", "延保一年")


class CampaignText(NamedTuple):
    """A campaign's JD ``promoType``, ``subPromoType`` and text."""

    promo_type: int
    sub_type: int
    text: str


class Seller(NamedTuple):
    """A seller the item may be listed under."""

    shop_id: str
    vender_id: str
    name: str
    self_operated: bool


def jd_price(value: Decimal, style: float) -> Decimal:
    """``value`` rounded to one of JD's usual endings (``style`` picks which); at least 1.00.

    ``style`` < 0.35: whole yuan (``.00``); < 0.60: ``.90``; < 0.80: ``.99``; else ``…9.00``
    (``.90`` under 100 yuan). The result is within 10 yuan of ``value``.
    """
    whole = value.to_integral_value(ROUND_FLOOR)
    if style < 0.35:
        price = value.to_integral_value(ROUND_HALF_UP)
    elif style < 0.6 or (style >= 0.8 and value < 100):
        price = whole + _NINETY
    elif style < 0.8:
        price = whole + _NINETY_NINE
    else:
        price = ((value + 1) / 10).to_integral_value(ROUND_FLOOR) * 10 - 1
    return max(price, Decimal(1)).quantize(_CENT)


def _threshold(price: Decimal, stretch: float) -> int:
    """A round spending threshold (ending in 9) between about 1 and 2 times ``price``."""
    amount = int(price * Decimal(f"{1 + stretch:.4f}"))
    step = max(1, int(10 ** (len(str(amount)) - 1)) // 2)
    return math.ceil((amount + 1) / step) * step - 1


def campaign_text(price: Decimal, draws: tuple[float, ...], sale: str | None) -> CampaignText:
    """A campaign for an item selling at ``price``; ``sale`` (e.g. ``"618"``) cuts deeper."""
    kind, stretch, depth, pick = draws[:4]
    threshold = _threshold(price, stretch)
    share = (0.10 + 0.15 * depth) if sale else (0.05 + 0.07 * depth)
    cut = max(1, round(threshold * share))
    cut = cut - cut % 5 if cut >= 10 else cut
    if kind < 0.4:
        found = CampaignText(10, 1, f"满{threshold}元减{cut}元")
    elif kind < 0.6:
        found = CampaignText(10, 2, f"每满{threshold}元，可减{cut}元现金")
    elif kind < 0.8:
        rates = ("8.5", "8", "7.5") if sale else ("9.5", "9", "8.8")
        pieces = 2 + int(pick * 2)
        found = CampaignText(15, 1, f"满{pieces}件，总价打{rates[int(depth * len(rates))]}折")
    else:
        found = CampaignText(4, 1, f"购买即赠{GIFTS[int(pick * len(GIFTS))]}")
    return found._replace(text=f"{sale}大促 {found.text}") if sale else found


def title_tag(draw: float, sale: str | None) -> str:
    """A tag sellers put before a title: 【618狂欢】 in a sale, else one of :data:`TITLE_TAGS`."""
    return f"【{sale}狂欢】" if sale else TITLE_TAGS[int(draw * len(TITLE_TAGS))]


@lru_cache(maxsize=4096)
def other_seller(brand: str, self_operated: bool) -> Seller:
    """The brand's other store: its flagship when JD sells the item, else JD's own store."""
    other = not self_operated
    name = f"{brand}{'京东自营旗舰店' if other else '官方旗舰店'}"
    return Seller(
        shop_id=str(stable_int(f"shop:{name}", 1_000_000_000, 1_100_000_000)),
        vender_id=str(stable_int(f"shop:vender:{name}", 1_000_000_000, 1_100_000_000)),
        name=name,
        self_operated=other,
    )
