"""The watch-list world of the scheduler tests: a list made through the API, its status,
and the scheduler's work driven by hand on a frozen clock.

* :data:`LISTS` (the API's path), :data:`T0` (where the clock starts: 11:00 in
  Asia/Shanghai), :data:`PRICE` (units per charged call);
* :func:`new_list`, :func:`status`: a token's list made, and its status;
* :func:`tick`: one round of the server's watch scheduler; :func:`schedule`: each item's
  next and last check.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jditem.server.clock import db_time
from jditem.server.jobs.watch_scheduler import WatchScheduler
from tests.support.live_server import LiveServer
from tests.support.user_api import api

LISTS = "/api/watch/lists"
PRICE = 100  # units per charged call (0.01 CNY)
T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # 11:00 in Asia/Shanghai


def new_list(
    live: LiveServer,
    token: str,
    name: str,
    items: list[str],
    *,
    interval: int = 60,
    budget: str = "100",
) -> int:
    """``token``'s new fixed-interval list of ``items``; its id."""
    data = api(
        live,
        token,
        "POST",
        LISTS,
        {"name": name, "intervalSeconds": interval, "dailyBudget": budget, "items": items},
    )
    return int(data["id"])


def status(live: LiveServer, token: str, name: str) -> dict[str, Any]:
    """The ``status`` of ``token``'s list ``name``."""
    data: dict[str, Any] = api(live, token, "GET", f"{LISTS}/{name}")["status"]
    return data


def tick(live: LiveServer) -> int:
    """One round of the server's watch scheduler (its own loop off): the checks it made."""
    scheduler: WatchScheduler = live.app.state.watch
    return live.run(lambda _ctx: scheduler.tick(), timeout=120)


def schedule(live: LiveServer, list_id: int) -> dict[str, tuple[Any, Any]]:
    """Item -> (next check, last check) of the list's items, in UTC."""
    rows = live.rows(
        "SELECT item_id, next_check_at, last_checked_at FROM watch_items WHERE list_id = :l",
        l=list_id,
    )
    return {str(r[0]): (_utc(r[1]), _utc(r[2])) for r in rows}


def _utc(value: Any) -> datetime | None:
    return None if value is None else db_time(value)
