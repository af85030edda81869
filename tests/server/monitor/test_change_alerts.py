"""Change events reach webhooks (SPEC §6.3) on a real server, both store profiles: an
event that a list's rules notify is written to the outbox with the event and delivered,
signed, to the account's endpoint (receiver on loopback, 127.0.0.0/8 allowed
explicitly), with the event's id as ``webhook-id``; an event no list notifies stays in
the pull feed only. Every wait is on a condition."""

from __future__ import annotations

import pytest
from tests.support.monitoring import ITEM, call, changing_item, feed
from tests.support.user_api import api
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver

from jditem.webhooks import verify

pytestmark = pytest.mark.usefixtures("backend")


def test_a_notified_change_is_delivered_signed_and_an_unnotified_one_is_not() -> None:
    with (
        WebhookReceiver(status=204) as receiver,
        changing_item(watch_scheduler=False, webhook_allow_networks=["127.0.0.0/8"]) as changer,
    ):
        live, clock = changer.live, changer.clock
        token = live.make_token("alerts")

        api(
            live,
            token,
            "POST",
            "/api/watch/lists",
            {
                "name": "phones",
                "intervalSeconds": 3600,
                "dailyBudget": "1",
                "items": [ITEM],
                "rules": {"kinds": ["price_drop"]},
            },
        )
        hook = {"url": receiver.base_url + "/jd"}
        secret = api(live, token, "POST", "/api/webhooks", hook)["secret"]
        call(live, token)  # the baseline: no event
        changer.observe(token, "699.00", stock=34)  # out of stock: not a kind the list notifies
        changer.observe(token, "649.00", stock=34)  # a price drop: notifies
        events = feed(live, token)["events"]
        assert [e["kinds"][0] for e in events] == ["out_of_stock", "price_drop"]
        wait_until(lambda: receiver.received, "the price drop is delivered")
        got = receiver.received[0]
        body = verify(got.body, got.headers, secret, now=clock().timestamp())  # server time
        assert got.headers["webhook-id"] == events[1]["id"]
        assert body["type"] == "item.changed"
        assert body["data"]["id"] == events[1]["id"]
        assert body["data"]["itemId"] == ITEM
        rows = live.scalar("SELECT COUNT(*) FROM webhook_deliveries")
        assert rows == 1  # the out-of-stock event notified no list: no delivery
