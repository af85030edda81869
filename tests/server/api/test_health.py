"""Health endpoints (SPEC §2.7): liveness + DB, and the v2 service level."""

from __future__ import annotations

import pytest

from tests.support.live_server import LiveServer, live_server

# once per store profile (tests/conftest.py: backend)
pytestmark = pytest.mark.usefixtures("backend")

HEALTH_V2 = "/api/health/jd/get-item-detail/v2"


def test_liveness_checks_the_database(live: LiveServer) -> None:
    body = live.http.get("/api/health").json()
    assert body["code"] == 0
    assert body["data"]["database"] == "ok"


def test_level_moves_with_outcomes(live: LiveServer) -> None:
    data = live.http.get(HEALTH_V2).json()["data"]
    assert data == {
        "level": "no_data",
        "label": "No data",
        "successRate": None,
        "samples": 0,
        "windowSeconds": 900,
    }
    token = live.make_token()
    assert live.get("100012043978", token).json()["code"] == 0
    for _ in range(9):
        live.get("100012043978", token)
        live.get("bad", token)  # 400: a client-side code, not counted
    data = live.http.get(HEALTH_V2).json()["data"]
    assert (data["level"], data["samples"], data["successRate"]) == ("healthy", 10, 1.0)


def test_failures_lower_the_level() -> None:
    with live_server(sandbox_failure_rate=1.0, max_attempts=1, wait_seconds=2.0) as live:
        token = live.make_token()
        codes = {live.get(str(1000 + i), token).json()["code"] for i in range(10)}
        assert codes == {301}
        data = live.http.get(HEALTH_V2).json()["data"]
        assert (data["level"], data["successRate"]) == ("mostly_unavailable", 0.0)
