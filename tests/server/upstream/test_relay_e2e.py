"""The relay collector end to end: a relay server in front of a second real jditem server.

Both servers run on 127.0.0.1 with their real databases; nothing of ours is mocked.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.server.console.conftest import ConsoleClient
from tests.support.live_server import V2_PATH, LiveServer, live_server
from tests.support.relay import relay_settings, upstream_and_relay
from tests.support.waiting import wait_until

ITEM = "100012043978"


def upstream_page(relay: LiveServer) -> str:
    """The console's Upstream page, signed in as the operator."""
    console = ConsoleClient(relay)
    try:
        console.sign_in()
        return console.get("/console/upstream").text
    finally:
        console.close()


def upstream_charged(upstream: LiveServer) -> int:
    """Charged calls the upstream answered (its own call records)."""
    return int(upstream.scalar("SELECT COUNT(*) FROM call_records WHERE charged > 0"))


def test_100_concurrent_callers_cause_one_upstream_charge() -> None:
    """100 callers, 3 tokens of two accounts, one new item → 1 upstream charged call."""
    with upstream_and_relay(upstream_settings={"sandbox_latency_ms": (300, 400)}) as (
        upstream,
        relay,
        _,
    ):
        tokens = [
            relay.make_token("team-a", name="a1"),
            relay.make_token("team-a", name="a2"),
            relay.make_token("team-b", name="b1"),
        ]

        def call(index: int) -> dict[str, object]:
            token = tokens[index % 3]
            with httpx.Client(base_url=relay.base_url, timeout=60) as http:
                for _ in range(20):
                    body = http.get(
                        V2_PATH,
                        params={"itemId": ITEM},
                        headers={"Authorization": f"Bearer {token}"},
                    ).json()
                    if body["code"] != 102:
                        return dict(body)
            raise AssertionError("still pending after 20 calls")

        with ThreadPoolExecutor(max_workers=100) as pool:
            bodies = list(pool.map(call, range(100)))
        assert all(b["code"] == 0 for b in bodies), {b["code"] for b in bodies}
        assert all(b["data"]["product"]["skuId"] == ITEM for b in bodies)  # type: ignore[index]
        assert upstream_charged(upstream) == 1
        assert relay.scalar("SELECT COUNT(*) FROM upstream_calls WHERE charged") == 1
        # each caller charged once: 100 charged call records, 100 ledger rows
        assert relay.scalar("SELECT COUNT(*) FROM call_records WHERE charged > 0") == 100
        assert relay.scalar("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'") == 100

        # the same item again within result_ttl → 0 upstream calls
        before = relay.scalar("SELECT COUNT(*) FROM upstream_calls")
        again = relay.get(ITEM, tokens[2]).json()
        assert again["code"] == 0
        assert relay.scalar("SELECT COUNT(*) FROM upstream_calls") == before
        assert upstream_charged(upstream) == 1


def test_upstream_balance_exhausted_opens_the_circuit_and_a_topup_closes_it() -> None:
    """601 upstream → 503 for new items (not charged), cached items served; top up → flows."""
    # The upstream account can pay for exactly one call (price 100 units = 0.01 yuan).
    with upstream_and_relay(upstream_balance_yuan="0.01") as (upstream, relay, upstream_token):
        token = relay.make_token("team")
        first = relay.get("1001", token).json()
        assert first["code"] == 0
        second = relay.get("1002", token)
        body = second.json()
        assert body["code"] == 503, body
        assert second.status_code == 503
        assert "upstream code 601" in body["message"]
        # the wire convention clients build against (SPEC §5)
        assert set(body["data"]) == {"retryAfter", "circuit", "upstreamCode"}
        assert body["data"]["upstreamCode"] == 601
        assert body["data"]["circuit"] in ("open", "probe_due")
        assert second.headers["Retry-After"] == str(body["data"]["retryAfter"])
        assert upstream_token not in second.text
        # a new item while open: answered at once from the circuit, no task, no upstream call
        calls_before = relay.scalar("SELECT COUNT(*) FROM upstream_calls")
        third = relay.get("1003", token).json()
        assert third["code"] == 503
        assert relay.scalar("SELECT COUNT(*) FROM tasks WHERE item_id = '1003'") == 0
        assert relay.scalar("SELECT COUNT(*) FROM upstream_calls") == calls_before
        # cached items are still served (and charged as usual)
        assert relay.get("1001", token).json()["code"] == 0
        # nothing charged for the 503s
        assert (
            relay.scalar("SELECT COUNT(*) FROM call_records WHERE code = 503 AND charged > 0") == 0
        )
        assert relay.scalar("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'") == 2
        health = relay.http.get("/api/health/jd/get-item-detail/v2").json()["data"]
        # open, or probe due once upstream_probe_seconds (0.3 s here) have passed
        assert health["upstream"]["circuit"] in ("open", "probe_due")
        assert health["upstream"]["code"] == 601
        wait_until(
            lambda: relay.scalar("SELECT COUNT(*) FROM upstream_events WHERE state = 'open'") >= 1,
            what="the circuit change to be recorded",
        )
        page = upstream_page(relay)
        assert "upstream code 601" in page
        assert 'class="circuit-open"' in page or 'class="circuit-probe_due"' in page

        # top the upstream up: the circuit is probed and closes by itself, no restart
        upstream.topup("vendor", "10")
        answers: list[int] = []

        def flows() -> bool:
            code = int(relay.get("1004", token).json()["code"])
            answers.append(code)
            return code == 0

        wait_until(flows, what="item 1004 to flow after the top-up")
        assert set(answers) <= {0, 102, 503}
        health = relay.http.get("/api/health/jd/get-item-detail/v2").json()["data"]
        assert health["upstream"]["circuit"] == "closed"
        states = [r[0] for r in relay.rows("SELECT state FROM upstream_events ORDER BY id")]
        assert states[0] == "open"
        assert states[-1] == "closed"


def fetch_until_ready(
    relay: LiveServer, token: str, item_id: str, calls: int = 60
) -> dict[str, object]:
    """Call the relay for ``item_id`` until it answers something other than 102."""
    with httpx.Client(base_url=relay.base_url, timeout=60) as http:
        for _ in range(calls):
            body = http.get(
                V2_PATH, params={"itemId": item_id}, headers={"Authorization": f"Bearer {token}"}
            ).json()
            if body["code"] != 102:
                return dict(body)
    raise AssertionError(f"item {item_id} still pending after {calls} calls")


def test_upstream_rate_limit_answers_cut_the_shared_rate_and_lose_nothing() -> None:
    """The upstream allows 4/s (burst 2); the relay starts at 100/s → 302s, AIMD, no loss.

    Twelve new items at once cannot fit in a burst of 2, so the upstream pushes back.
    """
    rate, burst = 4.0, 2
    with upstream_and_relay(
        vendor_rate=rate, vendor_burst=burst, upstream_rate=100.0, upstream_burst=20
    ) as (_, relay, _):
        token = relay.make_token("team")
        items = [str(5000 + n) for n in range(12)]
        with ThreadPoolExecutor(max_workers=12) as pool:
            bodies = list(pool.map(lambda i: fetch_until_ready(relay, token, i), items))
        assert [b["code"] for b in bodies] == [0] * len(items)
        assert relay.scalar("SELECT COUNT(*) FROM tasks WHERE status = 'failed'") == 0
        throttled = relay.scalar("SELECT COUNT(*) FROM upstream_calls WHERE code = 302")
        assert throttled > 0  # the upstream did push back
        assert relay.scalar("SELECT COUNT(*) FROM upstream_calls WHERE charged") == len(items)
        upstream_parts = relay.ctx.upstream
        assert upstream_parts is not None
        assert upstream_parts.rate.cuts > 0  # the relay cut its shared rate


def test_instruction_message_on_v2_falls_back_to_v1_and_records_it() -> None:
    """v2 answers an instruction message (code 0, no product) → v1 is asked; both recorded."""
    from jditem.server.collectors.catalog import build_payload
    from tests.support.fault_server import FaultServer, Reply

    instruction = Reply.envelope(
        0, "Please use the Task Management page of the dashboard", request_id="up-v2"
    )
    product = Reply.envelope(0, build_payload(ITEM), request_id="up-v1")
    with (
        FaultServer([instruction, product]) as fault,
        live_server(
            **relay_settings(fault.base_url, "fault-upstream-token", upstream_endpoints="v2,v1")
        ) as relay,
    ):
        token = relay.make_token("team")
        body = relay.get(ITEM, token).json()
        assert body["code"] == 0
        assert body["data"]["product"]["skuId"] == ITEM
        assert [r.path for r in fault.requests] == [
            "/api/jd/get-item-detail/v2",
            "/api/jd/get-item-detail/v1",
        ]
        rows = relay.rows(
            "SELECT endpoint, code, outcome, upstream_request_id, charged "
            "FROM upstream_calls ORDER BY id"
        )
        assert rows == [
            ("v2", 0, "not_serving_data", "up-v2", 0),
            ("v1", 0, "ready", "up-v1", 1),
        ]


def test_upstream_pending_longer_than_one_wait_is_polled_not_resubmitted() -> None:
    """The upstream takes ~2 s (its wait is 0.2 s): caller gets 102, later 0; one upstream task."""
    with upstream_and_relay(
        upstream_settings={"sandbox_latency_ms": (2000, 2100), "wait_seconds": 0.2},
        wait_seconds=0.3,
    ) as (upstream, relay, _):
        token = relay.make_token("team")
        first = relay.get(ITEM, token).json()
        assert first["code"] == 102
        final = fetch_until_ready(relay, token, ITEM, calls=200)
        assert final["code"] == 0
        # one upstream task, polled after its retryAfter (1 s): a handful of calls at most
        assert upstream.scalar("SELECT COUNT(*) FROM tasks") == 1
        upstream_calls = upstream.scalar("SELECT COUNT(*) FROM call_records")
        assert 2 <= upstream_calls <= 5
        outcomes = [r[0] for r in relay.rows("SELECT outcome FROM upstream_calls ORDER BY id")]
        assert outcomes[-1] == "ready"
        assert set(outcomes[:-1]) == {"pending"}
        assert relay.scalar("SELECT COUNT(*) FROM tasks") == 1


def test_an_ambiguous_upstream_call_is_not_resent_and_shown_as_possibly_charged() -> None:
    """Item 1: the connection breaks after the request was sent. The vendor may have
    charged it: asked once only, the caller gets 301, and the spend is certain +
    possible on the console, in ``jditem admin upstream`` and in the operator's health."""
    from typer.testing import CliRunner

    from jditem.cli.app import build_app
    from jditem.server.collectors.catalog import build_payload
    from tests.support.fault_server import FaultServer, Reply, Reset

    secret = "fault-upstream-token"
    with (
        FaultServer([Reset(), Reply.envelope(0, build_payload(ITEM))]) as fault,
        live_server(
            **relay_settings(fault.base_url, secret, upstream_price_units=100, max_attempts=3)
        ) as relay,
    ):
        token = relay.make_token("team")
        body = relay.get(ITEM, token).json()
        assert body["code"] == 301, body
        assert "may have been charged" in body["message"]
        assert len(fault.requests) == 1  # never resent within the task
        assert relay.rows(
            "SELECT charged, possibly_charged, failure, code FROM upstream_calls"
        ) == [(0, 1, "connection lost", None)]
        assert relay.scalar("SELECT COALESCE(SUM(charged), 0) FROM call_records") == 0

        public = relay.http.get("/api/health/jd/get-item-detail/v2")
        assert "baseUrl" not in public.json()["data"]["upstream"]
        assert fault.base_url not in public.text
        operator = relay.http.get(
            "/api/health/jd/get-item-detail/v2", headers={"X-Admin-Key": relay.admin_key}
        ).json()["data"]["upstream"]
        assert operator["baseUrl"] == fault.base_url
        assert operator["spend"]["charged"] == 0
        assert operator["spend"]["possiblyCharged"] == 1
        assert operator["spend"]["spendUnits"] == {"certain": 0, "possible": 100}
        wrong = relay.http.get(
            "/api/health/jd/get-item-detail/v2", headers={"X-Admin-Key": "not-the-key"}
        ).json()
        assert wrong["code"] == 100
        assert "upstream" not in (wrong.get("data") or {})

        page = upstream_page(relay)
        assert "Possibly charged" in page
        assert "connection lost" in page  # the codes table names the failure, not "none"
        assert ">none<" not in page
        assert "¥0.0000 certain\n+ ¥0.0100 possible" in page
        db_path = relay.db_path
        relay.stop()
        exported = CliRunner().invoke(
            build_app(), ["admin", "--db", str(db_path), "upstream", "--json"]
        )
        assert exported.exit_code == 0, exported.output
        totals = json.loads(exported.output)["totals"]
        assert totals["upstreamCharged"] == 0
        assert totals["upstreamPossiblyCharged"] == 1
        text = CliRunner().invoke(build_app(), ["admin", "--db", str(db_path), "upstream"])
        assert text.exit_code == 0, text.output
        assert "possibly charged" in text.output
        assert "upstream spend: 0 charged calls certain + 1 possible" in text.output
        assert "connection lost 1" in text.output


def test_an_upstream_pause_is_visible_while_it_lasts_and_capped() -> None:
    """Item 3: one 302 with ``Retry-After: 3600`` pauses upstream calls for 120 s at
    most (not an hour), and health and the console say so while it lasts."""
    from jditem.server.collectors.catalog import build_payload
    from tests.support.fault_server import FaultServer, Reply

    throttle = Reply.envelope(302, None, status=429, headers={"Retry-After": "3600"})
    with (
        FaultServer([throttle, Reply.envelope(0, build_payload(ITEM))]) as fault,
        live_server(
            **relay_settings(fault.base_url, "fault-upstream-token", wait_seconds=0.2)
        ) as relay,
    ):
        token = relay.make_token("team")
        assert relay.get(ITEM, token).json()["code"] == 102  # the upstream asked us to wait
        wait_until(lambda: fault.requests, what="the throttled call")
        health = wait_until(
            lambda: (
                relay.http.get("/api/health/jd/get-item-detail/v2").json()["data"]["upstream"]
                if relay.scalar("SELECT COUNT(*) FROM upstream_calls WHERE code = 302")
                else None
            ),
            what="the 302 to be recorded",
        )
        assert 100 < health["pauseSeconds"] <= 120
        assert health["circuit"] == "closed"
        page = upstream_page(relay)
        assert "<strong>Paused</strong>" in page
        assert len(fault.requests) == 1  # nothing else went upstream during the pause
