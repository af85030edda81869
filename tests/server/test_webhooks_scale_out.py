"""Webhook delivery in the scale-out profile with real processes (SPEC §6.3).

Two API processes (role api: no dispatcher) and two ``jditem worker`` processes on a
fresh PostgreSQL database: a worker takes an endpoint's lease and is ``kill -9``-ed
while its receiver holds the request; once the lease runs out the other worker delivers
the same message (same ``webhook-id``) and nothing is lost. Bounded waits on conditions.
"""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.support.postgres import PgCluster
from tests.support.processes import scale_out, wait_until
from tests.support.redis_server import RedisServer
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.slow


def test_kill_9_mid_delivery_loses_nothing(
    pg_cluster: PgCluster, redis_session: RedisServer
) -> None:
    if not redis_session.ping():
        redis_session.start()
    redis_session.flush()
    settings = {
        "lease_seconds": "2",
        "webhook_timeout_seconds": "20",
        "webhook_allow_networks": "127.0.0.0/8",
    }
    hold = threading.Event()
    with (
        WebhookReceiver(status=204, hold=hold) as receiver,
        scale_out(pg_cluster, redis_session, **settings) as deployment,
    ):
        token = deployment.make_token("hooks-chaos")
        auth = {"Authorization": f"Bearer {token}"}
        made = httpx.post(
            f"{deployment.base_url}/api/webhooks",
            json={"url": receiver.base_url + "/chaos"},
            headers=auth,
            timeout=30.0,
        ).json()
        assert made["code"] == 0, made
        endpoint = made["data"]["id"]
        sent = httpx.post(
            f"{deployment.base_url}/api/webhooks/{endpoint}/test", headers=auth, timeout=30.0
        ).json()
        assert sent["code"] == 0, sent
        wait_until(lambda: receiver.received, "a worker is mid-delivery (the receiver holds it)")
        owner = str(deployment.scalar("SELECT busy_owner FROM webhook_endpoints"))
        pid = int(owner.split(":")[1])
        holder = next(p for p in deployment.procs if p.popen.pid == pid)
        assert holder.name.startswith("worker")
        holder.kill9()
        hold.set()  # the receiver answers, to a dead process
        wait_until(
            lambda: deployment.scalar("SELECT status FROM webhook_deliveries") == "delivered",
            "the other worker delivers once the lease ran out",
            timeout=120.0,
        )
        ids = {r.headers["webhook-id"] for r in receiver.received}
        assert ids == {sent["data"]["webhookId"]}
        assert len(receiver.received) >= 2  # at least once: the dead attempt, then this one
        assert deployment.scalar("SELECT COUNT(*) FROM webhook_attempts") == 1
        wait_until(
            lambda: deployment.scalar("SELECT busy_owner FROM webhook_endpoints") is None,
            "the lease is given back after the delivery",
        )
