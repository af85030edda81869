"""Watch lists and item history in the console, on a real server (both store profiles):
the lists page, a list's page (items, spend per day), pause / resume with CSRF and the
token rule, and an item's page (price chart, change table) — every text escaped."""

from __future__ import annotations

import copy
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from markupsafe import escape

from jditem.server.collectors.base import CollectResult
from jditem.server.collectors.drift import drifted_payload
from tests.server.console.conftest import ConsoleClient
from tests.server.console.member_client import new_member
from tests.support.backends import Backend
from tests.support.clock import FrozenClock
from tests.support.live_server import LiveServer, live_server
from tests.support.user_api import api

# once per store profile (tests/conftest.py: backend)
pytestmark = pytest.mark.usefixtures("backend")

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
EVIL_TITLE = "<script>alert('title')</script> 洁面乳"
EVIL_PROMO = "<script>alert('promo')</script>满199减20"
#: JD's promotion HTML with the tags entity-encoded: the normalizer strips tags and
#: decodes entities, so the stored text is :data:`EVIL_PROMO`, a ``<script>`` as text.
EVIL_PROMO_UPSTREAM = "&lt;script&gt;alert('promo')&lt;/script&gt;满199减20"


class ScriptedCollector:
    """Answers each item with the price and title the test set for it last."""

    def __init__(self) -> None:
        self.payloads: dict[str, dict[str, Any]] = {}

    def set(self, item_id: str, price: str, *, title: str = "plain title", stock: int = 33) -> None:
        payload = drifted_payload(item_id, T0)
        payload["priceFloor"] = {"price": price, "ext": {"jdPrice": price}}
        payload["stock"]["StockState"] = stock
        payload["product"]["skuName"] = title
        payload["promov2"] = [{"pis": [{"content": EVIL_PROMO_UPSTREAM}]}]
        self.payloads[item_id] = payload

    async def collect(self, item_id: str) -> CollectResult:
        return CollectResult.ok(copy.deepcopy(self.payloads[item_id]))


@dataclass
class Env:
    live: LiveServer
    clock: FrozenClock
    collector: ScriptedCollector


@pytest.fixture(scope="module")
def env(backend: Backend) -> Iterator[Env]:
    clock, collector = FrozenClock(T0), ScriptedCollector()
    with (
        backend.database(),
        live_server(
            clock=clock,
            collector=collector,
            result_ttl_seconds=60,
            watch_min_interval_seconds=60,
            watch_scheduler=False,
        ) as live,
    ):
        yield Env(live, clock, collector)


@pytest.fixture(scope="module")
def server(env: Env) -> LiveServer:
    """The console fixtures' server: this module's, with the scripted collector."""
    return env.live


def fetch(env: Env, token: str, item: str, price: str, at: datetime, **kw: Any) -> None:
    """One API call of ``item`` at ``at`` answering ``price`` (a history point if it changed)."""
    env.collector.set(item, price, **kw)
    env.clock.set(at)
    body = env.live.get(item, token).json()
    assert body["code"] == 0, body


def make_list(env: Env, token: str, items: list[str], name: str | None = None) -> int:
    name = name or f"list-{secrets.token_hex(3)}"
    data = api(
        env.live,
        token,
        "POST",
        "/api/watch/lists",
        {"name": name, "intervalSeconds": 3600, "dailyBudget": "2.50", "items": items},
    )
    return int(data["id"])


def test_lists_page_list_page_and_item_page(env: Env, console: ConsoleClient) -> None:
    account = f"acct-{secrets.token_hex(3)}"
    token = env.live.make_token(account, name="watcher")
    item = str(80_000_000 + secrets.randbelow(10**6))
    fetch(env, token, item, "699.00", T0)
    fetch(env, token, item, "649.00", T0 + timedelta(hours=1), title=EVIL_TITLE)
    fetch(env, token, item, "649.00", T0 + timedelta(hours=2), title=EVIL_TITLE, stock=34)
    list_id = make_list(env, token, [item, "100"], name="dailies")
    today = T0.date().isoformat()
    env.live.execute(
        "INSERT INTO watch_spend (list_id, day, spent, checks) VALUES (:l, :d, 12500, 5)",
        l=list_id,
        d=today,
    )

    page = console.get("/console/watch")
    assert page.status_code == 200, page.text
    assert 'href="/console/watch"' in page.text  # the navigation link
    row = re.search(rf'<a href="/console/watch/{list_id}">dailies</a>.*?</tr>', page.text, re.S)
    assert row, page.text
    for shown in (account, "every 1 h", "¥1.2500 / ¥2.5000", "checking", ">Pause<"):
        assert shown in row.group(0), (shown, row.group(0))

    detail = console.get(f"/console/watch/{list_id}")
    assert detail.status_code == 200, detail.text
    assert f'href="/console/items/{item}?account={account}"' in detail.text
    assert "not checked yet" in detail.text
    spend = re.search(r'<table id="watch-spend">.*?</table>', detail.text, re.S)
    assert spend
    assert f'<td class="mono">{today}</td><td class="num">¥1.2500</td>' in spend.group(0)
    assert spend.group(0).count("<tr>") == 31  # the header and 30 days
    assert 'class="chart"' in detail.text

    item_page = console.get(f"/console/items/{item}", params={"account": account})
    assert item_page.status_code == 200, item_page.text
    text = item_page.text
    assert "<script>" not in text  # the title and promotion texts are escaped
    assert str(escape(EVIL_TITLE)) in text
    assert str(escape(EVIL_PROMO)) in text
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart price-chart"' in text
    changes = re.search(r'<table id="item-changes">.*?</table>', text, re.S)
    assert changes
    assert changes.group(0).count("<tr>") == 4  # the header and three points
    for price in ("¥699.00", "¥649.00"):
        assert price in changes.group(0)
    assert changes.group(0).count("changed:") == 1  # the title changed once
    assert f'href="/console/watch/{list_id}">dailies</a>' in text


def test_operator_picks_the_account_and_members_see_their_own(
    env: Env, console: ConsoleClient
) -> None:
    item = str(81_000_000 + secrets.randbelow(10**6))
    accounts = [f"acct-{secrets.token_hex(3)}" for _ in range(2)]
    tokens = [env.live.make_token(a, name="t") for a in accounts]
    for n, token in enumerate(tokens):
        fetch(env, token, item, f"{100 + n}.00", T0 + timedelta(minutes=n))
    picker = console.get(f"/console/items/{item}")
    assert picker.status_code == 200
    for account in accounts:
        assert f"/console/items/{item}?account={account}" in picker.text
    member, _email = new_member(env.live, accounts[1])
    try:
        own = member.get(f"/console/items/{item}", params={"account": accounts[0]})
        assert own.status_code == 200
        assert "¥101.00" in own.text  # its own account's history only
        assert "¥100.00" not in own.text
        other_item = str(82_000_000 + secrets.randbelow(10**6))
        fetch(env, tokens[0], other_item, "5.00", T0)
        hidden = member.get(f"/console/items/{other_item}")
        assert hidden.status_code == 404
        assert accounts[0] not in hidden.text
        assert member.get("/console/items/not-an-id").status_code == 404
    finally:
        member.close()


def _paused(env: Env, list_id: int) -> tuple[Any, ...]:
    return env.live.rows("SELECT paused, paused_reason FROM watch_lists WHERE id = :i", i=list_id)[
        0
    ]


def test_pause_and_resume_need_csrf_and_follow_the_token_rule(
    env: Env, console: ConsoleClient
) -> None:
    account = f"acct-{secrets.token_hex(3)}"
    token = env.live.make_token(account, name="ops-token")  # created by the operator
    list_id = make_list(env, token, ["100", "200"])

    refused = console.post(f"/console/watch/{list_id}/pause", csrf=False)
    assert refused.status_code == 403
    assert not _paused(env, list_id)[0]

    paused = console.post(f"/console/watch/{list_id}/pause")
    assert paused.status_code == 303
    assert tuple(_paused(env, list_id)) == (True, "user")
    assert (
        env.live.scalar("SELECT count(*) FROM watch_items WHERE list_id = :i AND active", i=list_id)
        == 0
    )
    page = console.get(paused.headers["location"])
    for shown in ("paused.", "paused by a person", ">Resume<"):
        assert shown in page.text

    env.live.execute("UPDATE watch_lists SET paused_reason = 'balance' WHERE id = :i", i=list_id)
    assert "the account&#39;s balance is too low" in console.get(f"/console/watch/{list_id}").text

    member, _email = new_member(env.live, account)
    owner, _owner_email = new_member(env.live, account, role="owner")
    try:
        assert ">Resume<" not in member.get(f"/console/watch/{list_id}").text
        denied = member.post(f"/console/watch/{list_id}/resume")
        assert denied.status_code == 403
        assert "Ask an owner" in denied.text
        assert _paused(env, list_id)[0]
        resumed = owner.post(f"/console/watch/{list_id}/resume?back=list")
        assert resumed.status_code == 303
        assert resumed.headers["location"].startswith(f"/console/watch/{list_id}?")
        assert tuple(_paused(env, list_id)) == (False, None)
        assert (
            env.live.scalar(
                "SELECT count(*) FROM watch_items WHERE list_id = :i AND active", i=list_id
            )
            == 2
        )
    finally:
        member.close()
        owner.close()


def test_missing_lists_are_404(console: ConsoleClient) -> None:
    for path in ("/console/watch/999999", "/console/watch/x", "/console/watch/99999999999"):
        response = console.get(path)
        assert response.status_code == 404, path
    assert console.post("/console/watch/999999/pause").status_code == 404


def test_an_adaptive_list_page_shows_its_stats_and_each_item_s_interval(
    env: Env, console: ConsoleClient
) -> None:
    """The figures come from the list's rows (the scheduler writes them; its tests show
    how): 4 checks, 1 change, 3 charges → 3.00 charges per change, 75 % found nothing."""
    token = env.live.make_token(f"acct-{secrets.token_hex(3)}", name="adaptive")
    made = api(
        env.live,
        token,
        "POST",
        "/api/watch/lists",
        {
            "name": "adaptive-one",
            "minIntervalSeconds": 600,
            "maxIntervalSeconds": 86_400,
            "withinSeconds": 7200,
            "dailyBudget": "2.50",
            "items": ["100000000009", "100000000013"],
        },
    )
    list_id = int(made["id"])
    env.live.execute(
        "UPDATE watch_items SET checks = 2, changes = 1, current_interval = 1800.4 "
        "WHERE list_id = :l AND item_id = '100000000009'",
        l=list_id,
    )
    env.live.execute(
        "UPDATE watch_items SET checks = 2, current_interval = 43200 "
        "WHERE list_id = :l AND item_id = '100000000013'",
        l=list_id,
    )
    env.live.execute(
        "INSERT INTO watch_spend (list_id, day, spent, checks) VALUES (:l, :d, 300, 3)",
        l=list_id,
        d=T0.date().isoformat(),
    )
    page = console.get("/console/watch")
    row = re.search(
        rf'<a href="/console/watch/{list_id}">adaptive-one</a>.*?</tr>', page.text, re.S
    )
    assert row, page.text
    assert "adaptive every 10 min – every 1 d" in row.group(0)
    detail = console.get(f"/console/watch/{list_id}").text
    merit = re.search(r'<div class="grid" id="watch-merit">.*?</div>\n</div>', detail, re.S)
    assert merit, detail
    for shown in (">4<", ">1<", ">3.00<", ">75%<"):
        assert shown in merit.group(0), (shown, merit.group(0))
    assert "every 2 h" in detail  # notice changes within
    items = re.search(r'<table id="watch-items">.*?</table>', detail, re.S)
    assert items
    assert "every 30 min" in items.group(0)
    assert "every 12 h" in items.group(0)


def test_a_list_page_shows_its_latest_change_events(env: Env, console: ConsoleClient) -> None:
    """Newest first, with kinds, before → after and the lists whose rules notified —
    escaped; the first observation is a baseline, not an event."""
    token = env.live.make_token(f"acct-{secrets.token_hex(3)}", name="events")
    item = str(83_000_000 + secrets.randbelow(10**6))
    name = f"ev-{secrets.token_hex(3)}"
    list_id = make_list(env, token, [item], name=name)
    empty = console.get(f"/console/watch/{list_id}").text
    assert "No changes yet" in empty
    start = T0  # the console session is as old as the frozen clock says
    fetch(env, token, item, "699.00", start)
    fetch(env, token, item, "649.00", start + timedelta(hours=1), title=EVIL_TITLE)
    fetch(env, token, item, "659.00", start + timedelta(hours=2), title=EVIL_TITLE)
    text = console.get(f"/console/watch/{list_id}").text
    assert "<script>" not in text
    table = re.search(r'<table id="watch-events">.*?</table>', text, re.S)
    assert table, text
    rows = table.group(0).split("<tr>")[2:]  # after the header
    assert len(rows) == 2
    assert "price_rise" in rows[0]
    assert "649.00 → 659.00" in rows[0]
    assert "price_drop" in rows[1]
    assert "699.00 → 649.00" in rows[1]
    assert str(escape(EVIL_TITLE)) in rows[1]
    assert f'href="/console/items/{item}' in rows[0]
    assert f"{name} (price_drop, new_low" in rows[1]  # the list whose rules notified
