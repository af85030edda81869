"""The relay scaled out: API processes (``--workers 0``) answer for a circuit that a
worker process opened, and see its pauses (SPEC §2.8, §5).

Real processes on loopback — ``jditem serve --processes 2 --workers 0`` and two
``jditem worker`` — on the session's PostgreSQL and Redis, in front of a scripted
vendor (:class:`~tests.support.fault_server.FaultServer`).
"""

from __future__ import annotations

import httpx

from tests.support.fault_server import FaultServer, Reply
from tests.support.postgres import PgCluster
from tests.support.processes import V2_PATH, Deployment, scale_out
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

HEALTH_PATH = "/api/health/jd/get-item-detail/v2"


def get(d: Deployment, token: str, item: str) -> httpx.Response:
    return httpx.get(
        d.base_url + V2_PATH,
        params={"itemId": item},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60.0,
    )


def api_circuit(d: Deployment) -> str:
    return str(
        httpx.get(d.base_url + HEALTH_PATH, timeout=30.0).json()["data"]["upstream"]["circuit"]
    )


def test_an_api_process_refuses_at_once_for_a_circuit_a_worker_opened(
    pg_cluster: PgCluster, redis_server: RedisServer
) -> None:
    with (
        FaultServer([Reply.envelope(404, None, status=404)]) as vendor,
        scale_out(
            pg_cluster,
            redis_server,
            workers=2,
            worker_threads=2,
            collector="relay",
            upstream=vendor.base_url,
            upstream_token="scale-out-upstream-secret",
            upstream_endpoints="v2",
            upstream_probe_seconds="600",
            retry_backoff_seconds="0.05",
        ) as d,
    ):
        token = d.make_token("team")
        vendor.behave(Reply.envelope(601, None, status=402, message="no balance"))
        first = get(d, token, "5001").json()
        assert first["code"] in (301, 503), first  # the task failed on the worker's refusal
        # the worker told the API processes: health there says open (each of the two
        # processes answers some of these requests), and a new item is refused at once
        wait_until(
            lambda: all(api_circuit(d) == "open" for _ in range(6)),
            what="the API processes to adopt the worker's open circuit",
        )
        asked = len(vendor.requests)
        for item in ("5002", "5003", "5004", "5005"):
            body = get(d, token, item).json()
            assert body["code"] == 503, body
            assert body["data"]["upstreamCode"] == 601
            assert body["data"]["circuit"] == "open"
            assert 1 <= body["data"]["retryAfter"] <= 600
        assert len(vendor.requests) == asked  # nobody asked the vendor meanwhile
        assert d.scalar("SELECT COUNT(*) FROM tasks WHERE item_id IN ('5002', '5003')") == 0
        assert "scale-out-upstream-secret" not in "".join(p.text() for p in d.procs)
