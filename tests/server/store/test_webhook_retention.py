"""``jditem admin prune`` and the webhook log: finished deliveries older than
``webhook_log_retention_days`` go with their attempts; pending and recent ones stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.support.live_server import live_server
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver

from jditem.server.context import ServerContext
from jditem.server.store.retention import PruneReport, prune

pytestmark = pytest.mark.usefixtures("backend")


def test_prune_deletes_old_finished_deliveries_and_their_attempts() -> None:
    with (
        WebhookReceiver(status=204) as receiver,
        live_server(webhook_allow_networks=["127.0.0.0/8"], watch_scheduler=False) as live,
    ):
        token = live.make_token("wh-prune")
        auth = {"Authorization": f"Bearer {token}"}
        made = live.http.post("/api/webhooks", json={"url": receiver.base_url}, headers=auth)
        endpoint = made.json()["data"]["id"]
        for _ in range(2):
            live.http.post(f"/api/webhooks/{endpoint}/test", headers=auth)
        done = "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'"
        wait_until(lambda: live.scalar(done) == 2, "both test events are delivered")
        old = datetime.now(UTC) - timedelta(days=40)
        first = live.scalar("SELECT min(id) FROM webhook_deliveries")
        live.execute(
            "UPDATE webhook_deliveries SET finished_at = :at WHERE id = :i", at=old, i=first
        )
        live.execute("UPDATE webhook_endpoints SET enabled = :off", off=False)  # keep it pending
        live.http.post(f"/api/webhooks/deliveries/{first}/replay", headers=auth)
        live.execute(
            "UPDATE webhook_deliveries SET created_at = :at WHERE status = 'pending'", at=old
        )

        async def run(ctx: ServerContext) -> PruneReport:
            return await prune(ctx.db, ctx.settings, datetime.now(UTC))

        report = live.run(run)
        assert report.deleted["webhook_deliveries"] == 1
        assert report.deleted["webhook_attempts"] == 1
        left = live.rows("SELECT status FROM webhook_deliveries ORDER BY id")
        assert [row[0] for row in left] == ["delivered", "pending"]
        assert live.scalar("SELECT count(*) FROM webhook_attempts") == 1
