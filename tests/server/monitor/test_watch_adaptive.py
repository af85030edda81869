"""An adaptive watch list on a real server (loopback, both store profiles), driven by an
injectable clock over the moving sandbox (SPEC §6.4, §6.5): items that change often get
shorter intervals than items that never change, every interval stays within the list's
bounds, the budget is never overspent, and the list's stats (checks, changes, charges per
change, share of empty checks, each item's interval) are on the API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from tests.support.backends import Backend
from tests.support.clock import FrozenClock
from tests.support.live_server import LiveServer, live_server
from tests.support.user_api import api
from tests.support.watch_lists import LISTS, PRICE, T0, schedule, tick

from jditem.server.collectors.drift import mean_interval

#: Sandbox items (seed 0) whose state changes every 48-75 minutes on average, and three
#: that never change (``drift.mean_interval`` 0); checked in the test below.
FAST = ["100000000009", "100000000020", "100000000040"]
NEVER = ["100000000013", "100000000016", "100000000019"]
MIN, MAX = 3600, 2 * 86_400
BUDGET = "0.50"  # 50 checks a day at 0.01 yuan: less than the fast items alone would take
DAYS = 4


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def server(backend: Backend, clock: FrozenClock) -> Iterator[LiveServer]:
    del backend
    with live_server(
        clock=clock, watch_scheduler=False, watch_min_interval_seconds=60, sandbox_drift=True
    ) as live:
        yield live


def items(live: LiveServer, token: str, name: str) -> dict[str, dict[str, Any]]:
    data = api(live, token, "GET", f"{LISTS}/{name}/items")
    return {item["itemId"]: item for item in data["items"]}


def test_the_sandbox_items_are_what_the_test_needs() -> None:
    assert all(0 < mean_interval(item) < 3 * 3600 for item in FAST)
    assert all(mean_interval(item) == 0 for item in NEVER)


def test_often_changing_items_get_shorter_intervals_within_the_bounds(
    server: LiveServer, clock: FrozenClock
) -> None:
    token = server.make_token("adaptive")
    made = api(
        server,
        token,
        "POST",
        LISTS,
        {
            "name": "mixed",
            "minIntervalSeconds": MIN,
            "maxIntervalSeconds": MAX,
            "dailyBudget": BUDGET,
            "items": FAST + NEVER,
        },
    )
    assert made["schedule"] == {
        "mode": "adaptive",
        "intervalSeconds": None,
        "minIntervalSeconds": MIN,
        "maxIntervalSeconds": MAX,
        "withinSeconds": None,
    }
    list_id = int(made["id"])
    now = T0
    for _ in range(DAYS * 24):  # hourly ticks; each due item is checked once
        now += timedelta(hours=1)
        clock.set(now)
        tick(server)
        for item, (next_at, last) in schedule(server, list_id).items():
            if last == now:  # just checked: its next check is within the bounds
                gap = (next_at - now).total_seconds()
                assert MIN - 1 <= gap <= MAX + 1, (item, gap)
    shown = items(server, token, "mixed")
    fast = [shown[item]["intervalSeconds"] for item in FAST]
    never = [shown[item]["intervalSeconds"] for item in NEVER]
    assert all(MIN <= value <= MAX for value in fast + never)
    assert max(fast) < min(never), (fast, never)
    assert all(shown[item]["changes"] > 0 for item in FAST)
    assert all(shown[item]["changes"] == 0 for item in NEVER)
    # never more than the budget a day (the charge transaction's guard, and the plan)
    per_day = server.rows("SELECT spent, checks FROM watch_spend WHERE list_id = :l", l=list_id)
    assert per_day
    assert all(int(spent) <= 5_000 for spent, _ in per_day)
    state = api(server, token, "GET", f"{LISTS}/mixed")["status"]
    checks = sum(item["checks"] for item in shown.values())
    changes = sum(item["changes"] for item in shown.values())
    assert (state["checks"], state["changes"]) == (checks, changes)
    charged = int(
        server.scalar("SELECT SUM(checks) FROM watch_spend WHERE list_id = :l", l=list_id)
    )
    assert state["charges"] == charged
    assert state["chargesPerChange"] == pytest.approx(charged / changes, abs=1e-3)
    assert state["emptyShare"] == pytest.approx((checks - changes) / checks, abs=1e-4)
    assert int(server.scalar("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'")) == charged
    assert charged * PRICE == sum(int(spent) for spent, _ in per_day)


def test_a_fixed_list_shows_its_interval_and_stats_too(
    server: LiveServer, clock: FrozenClock
) -> None:
    token = server.make_token("fixed")
    api(
        server,
        token,
        "POST",
        LISTS,
        {"name": "f", "intervalSeconds": 3600, "dailyBudget": "1", "items": FAST[:1]},
    )
    for hours in (2, 4):
        clock.set(T0 + timedelta(hours=hours))
        tick(server)
    (item,) = items(server, token, "f").values()
    assert (item["intervalSeconds"], item["checks"]) == (3600, 2)
    state = api(server, token, "GET", f"{LISTS}/f")["status"]
    assert (state["checks"], state["charges"]) == (2, 2)


def test_checks_the_budget_cannot_pay_are_not_made(server: LiveServer, clock: FrozenClock) -> None:
    """More items due than the day's budget pays: the budget's checks are made, the list
    pauses (``list_budget``) instead of making calls the charge would refuse, and the
    next day resumes it and checks the rest."""
    token = server.make_token("tight")
    list_id = int(
        api(
            server,
            token,
            "POST",
            LISTS,
            {
                "name": "tight",
                "minIntervalSeconds": MIN,
                "maxIntervalSeconds": MAX,
                "dailyBudget": "0.03",  # 3 checks a day: what 6 items once per 2 days need
                "items": FAST + NEVER,
            },
        )["id"]
    )
    clock.set(T0 + timedelta(hours=2))
    assert tick(server) == 6
    state = api(server, token, "GET", f"{LISTS}/tight")["status"]
    assert (state["paused"], state["pausedReason"], state["charges"]) == (True, "list_budget", 3)
    calls = server.rows("SELECT code FROM call_records WHERE watch_list_id = :l", l=list_id)
    assert sorted(int(code) for (code,) in calls) == [0, 0, 0]  # no refused call
    clock.set(T0 + timedelta(days=1))
    scheduler = server.app.state.watch
    assert server.run(lambda _ctx: scheduler.resume_paused()) == 1
    assert tick(server) == 3
    checked = [last for _, last in schedule(server, list_id).values()]
    assert all(last is not None for last in checked)
