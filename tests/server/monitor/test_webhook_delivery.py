"""Webhook delivery end to end on a real server (loopback receivers, both store
profiles): signed and verifiable, retried with the same ``webhook-id``, 410 and spent
retries disable the endpoint, the guard refuses at delivery, a hanging endpoint delays
no other, a dead process's lease runs out and the delivery is made, replay.

Receivers run on 127.0.0.1, allowed explicitly (``webhook_allow_networks``); retries run
in seconds through ``webhook_retry_multiplier``. Every wait is on a condition."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from tests.support.backends import Backend
from tests.support.clock import FrozenClock
from tests.support.live_server import LiveServer, live_server
from tests.support.user_api import api
from tests.support.waiting import await_until, wait_until
from tests.support.webhook_receiver import WebhookReceiver

from jditem.server.context import ServerContext
from jditem.server.jobs.webhook_dispatcher import Dispatcher
from jditem.server.monitor import endpoints
from jditem.server.monitor.outbox import enqueue
from jditem.server.store.webhook_tables import WebhookEndpointRow
from jditem.webhooks import verify

pytestmark = pytest.mark.usefixtures("backend")

HOOKS = "/api/webhooks"
LOOPBACK = ["127.0.0.0/8"]
FAST = {"webhook_allow_networks": LOOPBACK, "watch_scheduler": False}


def add(live: LiveServer, token: str, url: str, **body: Any) -> tuple[int, str]:
    made = api(live, token, "POST", HOOKS, {"url": url, **body})
    return made["id"], made["secret"]


def event(live: LiveServer, account: str, event_id: str, kinds: list[str]) -> int:
    """Enqueue a change event the way the event writer does: in a write transaction."""
    payload = {"type": "change", "timestamp": "2026-12-06T10:00:00Z", "data": {"id": event_id}}

    async def write(ctx: ServerContext) -> int:
        async with ctx.db.writing() as session:
            account_id = await session.scalar(_account_id_query(), {"n": account})
            connection = await session.connection()
            written: int = await connection.run_sync(
                enqueue, account_id, event_id, [], kinds, payload, now=ctx.clock()
            )
            return written

    return live.run(write)


def _account_id_query() -> Any:
    return text("SELECT id FROM accounts WHERE name = :n")


def deliveries(live: LiveServer, token: str, endpoint: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api(live, token, "GET", f"{HOOKS}/{endpoint}/deliveries")[
        "deliveries"
    ]
    return found


def endpoint_state(live: LiveServer, token: str, endpoint: int) -> dict[str, Any]:
    shown: dict[str, Any] = api(live, token, "GET", f"{HOOKS}/{endpoint}")
    return shown


def test_a_test_event_arrives_signed_and_verifiable() -> None:
    with WebhookReceiver(status=204) as receiver, live_server(**FAST) as live:
        token = live.make_token("wh-sign")
        endpoint, secret = add(live, token, receiver.base_url + "/hooks?k=1")
        sent = api(live, token, "POST", f"{HOOKS}/{endpoint}/test")
        wait_until(lambda: receiver.received, "the test event arrives")
        got = receiver.received[0]
        assert got.path == "/hooks?k=1"
        assert got.headers["webhook-id"] == sent["webhookId"]
        event_body = verify(got.body, got.headers, secret)
        assert event_body["type"] == "webhook.test"
        assert event_body["data"]["endpointId"] == endpoint
        done = wait_until(
            lambda: [d for d in deliveries(live, token, endpoint) if d["status"] == "delivered"],
            "the delivery is marked delivered",
        )
        assert done[0]["attempts"] == 1
        assert done[0]["log"][0]["status"] == 204
        assert done[0]["log"][0]["latencyMs"] >= 0


def test_rotation_signs_with_both_secrets_during_the_overlap() -> None:
    with WebhookReceiver(status=200) as receiver, live_server(**FAST) as live:
        token = live.make_token("wh-rotate")
        endpoint, old = add(live, token, receiver.base_url)
        new = api(live, token, "POST", f"{HOOKS}/{endpoint}/rotate")["secret"]
        api(live, token, "POST", f"{HOOKS}/{endpoint}/test")
        wait_until(lambda: receiver.received, "the test event arrives")
        got = receiver.received[0]
        assert len(got.headers["webhook-signature"].split()) == 2
        verify(got.body, got.headers, old)  # a receiver not yet switched
        verify(got.body, got.headers, new)


def test_filters_choose_the_endpoints_of_an_event() -> None:
    with WebhookReceiver(status=204) as receiver, live_server(**FAST) as live:
        token = live.make_token("wh-filter")
        drops, _ = add(live, token, receiver.base_url + "/drops", kinds=["price_drop"])
        stock, _ = add(live, token, receiver.base_url + "/stock", kinds=["out_of_stock"])
        assert event(live, "wh-filter", "evt_01", ["price_drop", "new_low"]) == 1
        assert event(live, "wh-filter", "evt_02", ["title_changed"]) == 0
        wait_until(lambda: receiver.received, "the event arrives")
        assert [r.path for r in receiver.received] == ["/drops"]
        assert deliveries(live, token, stock) == []
        assert [d["webhookId"] for d in deliveries(live, token, drops)] == ["evt_01"]


def test_a_500_is_retried_with_the_same_webhook_id() -> None:
    settings = {**FAST, "webhook_retry_multiplier": 1e-4}
    with WebhookReceiver(statuses=[500, 503, 204]) as receiver, live_server(**settings) as live:
        token = live.make_token("wh-retry")
        endpoint, secret = add(live, token, receiver.base_url)
        event(live, "wh-retry", "evt_retry", ["price_drop"])
        wait_until(lambda: len(receiver.received) >= 3, "three attempts arrive")
        assert {r.headers["webhook-id"] for r in receiver.received} == {"evt_retry"}
        for got in receiver.received:
            verify(got.body, got.headers, secret)
        done = wait_until(
            lambda: [d for d in deliveries(live, token, endpoint) if d["status"] == "delivered"],
            "delivered after the retries",
        )
        assert done[0]["attempts"] == 3
        assert [a["status"] for a in done[0]["log"]] == [500, 503, 204]
        assert [a["error"] for a in done[0]["log"]] == ["status", "status", None]
        assert len(receiver.received) == 3


def test_410_disables_the_endpoint() -> None:
    with WebhookReceiver(status=410) as receiver, live_server(**FAST) as live:
        token = live.make_token("wh-gone")
        endpoint, _ = add(live, token, receiver.base_url)
        event(live, "wh-gone", "evt_gone", ["price_drop"])
        state = wait_until(
            lambda: (s := endpoint_state(live, token, endpoint))["enabled"] is False and s,
            "the endpoint is disabled",
        )
        assert "410" in state["disabledReason"]
        (done,) = deliveries(live, token, endpoint)
        assert (done["status"], done["attempts"]) == ("failed", 1)
        assert len(receiver.received) == 1
        # a disabled endpoint gets no new deliveries; enabled again it does
        assert event(live, "wh-gone", "evt_later", ["price_drop"]) == 0
        api(live, token, "POST", f"{HOOKS}/{endpoint}/enable")
        assert endpoint_state(live, token, endpoint)["enabled"] is True


def test_spent_retries_fail_the_delivery_and_disable_the_endpoint() -> None:
    settings = {**FAST, "webhook_retry_multiplier": 1e-6}
    with WebhookReceiver(status=500) as receiver, live_server(**settings) as live:
        token = live.make_token("wh-dead")
        endpoint, _ = add(live, token, receiver.base_url)
        event(live, "wh-dead", "evt_dead", ["price_drop"])
        state = wait_until(
            lambda: (s := endpoint_state(live, token, endpoint))["enabled"] is False and s,
            "the endpoint is disabled after its retries",
        )
        assert "12 attempts failed" in state["disabledReason"]
        (done,) = deliveries(live, token, endpoint)
        assert (done["status"], done["attempts"]) == ("failed", 12)
        assert len(done["log"]) == 12
        assert len(receiver.received) == 12
        replayed = api(live, token, "POST", f"{HOOKS}/deliveries/{done['id']}/replay")
        assert (replayed["webhookId"], replayed["endpointEnabled"]) == ("evt_dead", False)


def test_replay_sends_a_delivery_again_with_its_webhook_id() -> None:
    with WebhookReceiver(status=204) as receiver, live_server(**FAST) as live:
        token = live.make_token("wh-replay")
        endpoint, secret = add(live, token, receiver.base_url)
        event(live, "wh-replay", "evt_replay", ["price_drop"])
        first = wait_until(
            lambda: [d for d in deliveries(live, token, endpoint) if d["status"] == "delivered"],
            "delivered",
        )[0]
        api(live, token, "POST", f"{HOOKS}/deliveries/{first['id']}/replay")
        wait_until(lambda: len(receiver.received) == 2, "the replay arrives")
        assert [r.headers["webhook-id"] for r in receiver.received] == ["evt_replay"] * 2
        assert receiver.received[0].body == receiver.received[1].body
        verify(receiver.received[1].body, receiver.received[1].headers, secret)


def test_the_guard_refuses_at_delivery_when_the_network_is_no_longer_allowed(
    tmp_path: Path,
) -> None:
    """The endpoint was accepted while loopback was allowed; the operator then removed
    the network: the attempt is refused (nothing contacted), logged, and retried later."""
    home = {"home": tmp_path, "watch_scheduler": False}
    with WebhookReceiver(status=204) as receiver:
        with live_server(**home, webhook_allow_networks=LOOPBACK, webhook_dispatcher=False) as live:
            token = live.make_token("wh-rebind")
            endpoint, _ = add(live, token, receiver.base_url)
        with live_server(**home) as live:
            event(live, "wh-rebind", "evt_refused", ["price_drop"])
            (refused,) = wait_until(
                lambda: [d for d in deliveries(live, token, endpoint) if d["attempts"]],
                "the refused attempt is logged",
            )
        assert refused["status"] == "pending"
        assert refused["log"][0]["error"] == "refused"
        assert "loopback" in refused["log"][0]["detail"]
        assert refused["log"][0]["status"] is None
        assert receiver.received == []


def test_a_hanging_endpoint_does_not_delay_another() -> None:
    hold = threading.Event()
    settings = {**FAST, "webhook_timeout_seconds": 120.0}
    with (
        WebhookReceiver(status=204, hold=hold) as hanging,
        WebhookReceiver(status=204) as good,
        live_server(**settings) as live,
    ):
        token = live.make_token("wh-hang")
        stuck, _ = add(live, token, hanging.base_url + "/stuck", kinds=["price_drop"])
        fine, _ = add(live, token, good.base_url + "/fine", kinds=["price_rise"])
        event(live, "wh-hang", "evt_h1", ["price_drop"])
        event(live, "wh-hang", "evt_h2", ["price_drop"])
        wait_until(lambda: hanging.received, "the hanging receiver holds the first delivery")
        for n in range(5):
            event(live, "wh-hang", f"evt_g{n}", ["price_rise"])
        wait_until(lambda: len(good.received) == 5, "the good endpoint gets all five")
        assert not hold.is_set()
        assert len(hanging.received) == 1  # one in flight per endpoint: evt_h2 waits
        assert all(d["status"] == "pending" for d in deliveries(live, token, stuck))
        hold.set()
        wait_until(lambda: len(hanging.received) == 2, "the held endpoint resumes")
        assert [r.headers["webhook-id"] for r in hanging.received] == ["evt_h1", "evt_h2"]
        assert len(deliveries(live, token, fine)) == 5


def test_a_dead_processes_lease_runs_out_then_the_delivery_is_made() -> None:
    """A process claimed the endpoint and died (it never released it): the delivery
    stays pending while the lease lasts, and is made by a live process after it."""
    start = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    clock = FrozenClock(start)
    with WebhookReceiver(status=204) as receiver, live_server(clock=clock, **FAST) as live:
        token = live.make_token("wh-kill")
        endpoint, _ = add(live, token, receiver.base_url)
        dispatcher: Dispatcher = live.app.state.webhooks

        async def claim_then_die(ctx: ServerContext) -> datetime:
            dead = Dispatcher(ctx.settings, ctx.db, ctx.clock, owner="dead-process")
            assert await dead.claim(endpoint, ctx.clock())
            return ctx.clock() + dead.lease

        expires = live.run(claim_then_die)
        event(live, "wh-kill", "evt_kill", ["price_drop"])
        ticks = dispatcher.ticks
        wait_until(lambda: dispatcher.ticks >= ticks + 3, "the live dispatcher ticks")
        assert receiver.received == []
        (waiting,) = deliveries(live, token, endpoint)
        assert (waiting["status"], waiting["attempts"]) == ("pending", 0)
        clock.set(expires + timedelta(seconds=1))
        wait_until(lambda: receiver.received, "delivered once the dead lease ran out")
        wait_until(
            lambda: deliveries(live, token, endpoint)[0]["status"] == "delivered", "delivered"
        )
        owner = "SELECT busy_owner FROM webhook_endpoints WHERE id = :i"
        wait_until(lambda: live.scalar(owner, i=endpoint) is None, "the lease is given back")


def test_competing_dispatchers_make_each_attempt_once() -> None:
    """Three dispatchers (the server's and two more, as other processes would be) share
    the outbox: every delivery arrives exactly once to a healthy receiver (each attempt
    is claimed by one of them)."""
    with WebhookReceiver(status=204) as receiver, live_server(**FAST) as live:
        token = live.make_token("wh-many")
        for n in range(4):
            add(live, token, f"{receiver.base_url}/e{n}")

        async def start_two(ctx: ServerContext) -> list[Dispatcher]:
            others = [Dispatcher(ctx.settings, ctx.db, ctx.clock) for _ in range(2)]
            for other in others:
                other.start()
            return others

        others = live.run(start_two)
        try:
            for n in range(15):
                event(live, "wh-many", f"evt_m{n:02d}", ["price_drop"])
            wait_until(lambda: len(receiver.received) >= 60, "every delivery arrives")
            pending = "SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'"
            wait_until(lambda: live.scalar(pending) == 0, "every delivery is marked delivered")
        finally:

            async def stop(ctx: ServerContext) -> None:
                for other in others:
                    await other.stop()

            live.run(stop)
        seen = [(r.path, r.headers["webhook-id"]) for r in receiver.received]
        assert len(seen) == len(set(seen)) == 60
        assert live.scalar("SELECT count(*) FROM webhook_attempts") == 60


def test_the_global_bound_limits_deliveries_in_flight_per_process() -> None:
    """With ``webhook_concurrency=1`` a held delivery to one endpoint occupies the one
    slot: the other endpoint's delivery waits for it, then goes."""
    hold = threading.Event()
    settings = {**FAST, "webhook_concurrency": 1, "webhook_timeout_seconds": 120.0}
    with (
        WebhookReceiver(status=204, hold=hold) as receiver,
        live_server(**settings) as live,
    ):
        token = live.make_token("wh-bound")
        add(live, token, receiver.base_url + "/a")
        add(live, token, receiver.base_url + "/b")
        event(live, "wh-bound", "evt_bound", ["price_drop"])  # one delivery to each
        wait_until(lambda: receiver.received, "one delivery is in flight")
        dispatcher: Dispatcher = live.app.state.webhooks
        ticks = dispatcher.ticks
        wait_until(lambda: dispatcher.ticks >= ticks + 3, "the dispatcher ticks meanwhile")
        assert len(receiver.received) == 1
        hold.set()
        wait_until(lambda: len(receiver.received) == 2, "the other goes once the slot is free")
        assert sorted(r.path for r in receiver.received) == ["/a", "/b"]


def test_an_endpoint_removed_mid_attempt_leaves_nothing_behind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The endpoint is removed while an attempt to it is in flight: the attempt's
    result has nowhere to go and is dropped quietly (it used to fail on the deleted
    delivery's foreign key, and a removal racing an attempt's record failed likewise)."""
    hold = threading.Event()
    with WebhookReceiver(status=204, hold=hold) as receiver, live_server(**FAST) as live:
        token = live.make_token("wh-gone")
        endpoint, _ = add(live, token, receiver.base_url)
        dispatcher: Dispatcher = live.app.state.webhooks
        event(live, "wh-gone", "evt_gone", ["price_drop"])
        wait_until(lambda: receiver.received, "the attempt is in flight")
        with caplog.at_level(logging.WARNING, logger="jditem"):
            api(live, token, "DELETE", f"{HOOKS}/{endpoint}")
            hold.set()
            wait_until(lambda: endpoint not in dispatcher.serving, "the attempt ends")
        assert not [r.getMessage() for r in caplog.records if r.name == "jditem.server.webhooks"]
        for table in ("webhook_attempts", "webhook_deliveries", "webhook_endpoints"):
            assert live.scalar(f"SELECT count(*) FROM {table}") == 0


WAITING_ON_A_LOCK = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"


# PostgreSQL only: SQLite has one writer, so a removal and an event cannot interleave
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_an_event_waits_for_a_removal_then_skips_the_endpoint(backend: Backend) -> None:
    """An event's deliveries are written while the endpoint is being removed (the event
    is in a charge's transaction): the event waits for the removal to commit and then
    writes no delivery for it — neither side fails on the other's rows."""
    assert backend.is_postgres
    with live_server(**FAST) as live:
        token = live.make_token("wh-race")
        endpoint, _ = add(live, token, "http://127.0.0.1:9/hook")

        async def race(ctx: ServerContext) -> int:
            async with ctx.db.writing() as session:
                row = await session.get(WebhookEndpointRow, endpoint)
                assert row is not None
                await endpoints.remove(session, row)
                writing = asyncio.ensure_future(asyncio.to_thread(event, live, "wh-race", "e", []))

                async def waiting() -> bool:
                    async with ctx.db.reading() as probe:
                        waits = (
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        )
                        found = await probe.scalar(text(waits))
                        return bool(found)

                await await_until(waiting, what="the event waits on the removal's lock")
                assert not writing.done()
            return await writing

        assert live.run(race) == 0
        assert live.scalar("SELECT count(*) FROM webhook_deliveries") == 0
