"""The hostile-upstream suite (issue 16, "Done means"): the gateway against a bad vendor.

A fake vendor on loopback (:class:`~tests.support.fault_server.FaultServer`) switches
between behaviours — slow, trickling, huge, invalid JSON, HTML, empty, reset after
send, redirect, echoing the token, ``Retry-After`` huge or infinite, each refusal code,
an instruction message on every endpoint — in front of a real gateway process
(``jditem serve --collector relay``, :func:`~tests.support.relay.gateway_process`), on
SQLite and on PostgreSQL. For each behaviour the table states, and the test asserts:

* what the caller gets (its final code) and what it is charged;
* what the upstream accounting records for the item: calls charged for sure, calls
  *possibly* charged (ambiguous: sent, no complete answer), and how many requests
  reached the vendor (an ambiguous call is never resent);
* that unauthenticated health keeps answering while the hostile call is in progress,
  each answer within :data:`HEALTH_DEADLINE` (1 s, the issue's bound — generous for a
  loopback request that takes milliseconds), and shows no operator detail;
* that the gateway's resident memory (``/proc/PID/status`` of the real process) stays
  below :data:`RSS_LIMIT_MB`.

Waits are conditions with generous deadlines; the one time-based bound is the health
deadline above. "While in progress" is checked where the hostile exchange lasts (slow,
trickle, pauses): at least one health answer must arrive before the caller's does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from jditem.server.collectors.catalog import build_payload
from tests.support.fault_server import Action, FaultServer, Reply, Reset, Stream, Trickle
from tests.support.relay import Gateway, gateway_process
from tests.support.waiting import wait_until

SECRET = "hostile-vendor-token-5e1f0c"
HEALTH_PATH = "/api/health/jd/get-item-detail/v2"
V2_PATH = "/api/jd/get-item-detail/v2"
#: Each unauthenticated health answer must come within this while a hostile call runs.
HEALTH_DEADLINE = 1.0
RSS_LIMIT_MB = 300.0
#: The gateway's upstream_timeout_seconds, probe interval and Retry-After cap (short,
#: so the suite is quick; the production values are 120 s, 30 s and 120 s).
UPSTREAM_TIMEOUT = 3.0
PROBE_SECONDS = 1.0
PAUSE_CAP = 4.0
MAX_ATTEMPTS = 3
HUGE = 100 * 1024 * 1024


def product(item: str, **kw: Any) -> Reply:
    return Reply.envelope(0, build_payload(item), request_id=f"up-{item}", **kw)


def echoing(item: str) -> Reply:
    """A product with the token echoed deep in data, in requestId, message and a header."""
    payload = build_payload(item)
    payload["vendorDebug"] = {"calls": [{"url": "/v2?token={{token}}&x=1"}], "t": "{{token}}"}
    return Reply.envelope(
        0,
        payload,
        message="served to {{token}}",
        request_id="{{token}}",
        headers={"X-Request-Id": "{{token}}"},
        echo=True,
    )


def refusal(code: int) -> Callable[[str], list[Action]]:
    status = {100: 401, 303: 429, 600: 403, 601: 402, 602: 402}[code]
    return lambda item: [Reply.envelope(code, None, status=status, message="refused")]


def throttled(retry_after: str) -> Callable[[str], list[Action]]:
    return lambda item: [
        Reply.envelope(302, None, status=429, headers={"Retry-After": retry_after}),
        product(item),
    ]


INSTRUCTION = Reply.envelope(0, "Please use the Task Management page of the dashboard")


@dataclass(frozen=True)
class Case:
    """One vendor behaviour and what must come of it (module docstring)."""

    name: str
    script: Callable[[str], list[Action]]
    code: int  # the caller's final code
    charged: bool  # whether the caller is charged
    certain: int  # upstream calls charged for sure
    possible: int  # upstream calls possibly charged
    requests: int  # requests for the item that reached the vendor
    lasting: bool = False  # the hostile exchange lasts: health must answer meanwhile
    circuit: bool = False  # opens the circuit (closed again after the case)
    pause: bool = False  # pauses upstream calls (visible in health, at most PAUSE_CAP)


AMBIGUOUS = {"code": 301, "charged": False, "certain": 0, "possible": 1, "requests": 1}
REFUSED = {"code": 503, "charged": False, "certain": 0, "possible": 0, "requests": 1}
PAID = {"code": 0, "charged": True, "certain": 1, "possible": 0, "requests": 1}

CASES = [
    Case("healthy", lambda i: [product(i)], **PAID),
    Case("slow", lambda i: [product(i, delay=4 * UPSTREAM_TIMEOUT)], **AMBIGUOUS, lasting=True),
    Case("trickling", lambda i: [Trickle(length=5000, interval=0.05)], **AMBIGUOUS, lasting=True),
    Case("huge", lambda i: [Stream.envelope(HUGE, i)], **AMBIGUOUS),
    Case("huge-unannounced", lambda i: [Stream.envelope(HUGE, i, announce=False)], **AMBIGUOUS),
    Case("invalid-json", lambda i: [Reply(200, b'{"code": 0, "data": {"sku')], **AMBIGUOUS),
    Case("html", lambda i: [Reply.text("<html><body>Welcome</body></html>")], **AMBIGUOUS),
    Case("empty", lambda i: [Reply(200)], **AMBIGUOUS),
    Case("reset-after-send", lambda i: [Reset()], **AMBIGUOUS),
    Case(
        "redirect",
        lambda i: [Reply(302, headers={"Location": "https://login.example/?next=/v2"})],
        code=301,
        charged=False,
        certain=0,
        possible=0,
        requests=MAX_ATTEMPTS,  # a redirect charges nothing: retried within max_attempts
    ),
    Case("echo-token", lambda i: [echoing(i)], **PAID),
    Case("retry-after-3600", throttled("3600"), **{**PAID, "requests": 2}, pause=True),
    Case("retry-after-inf", throttled("inf"), **{**PAID, "requests": 2}, pause=True),
    *[Case(f"refusal-{code}", refusal(code), **REFUSED, circuit=True) for code in (100, 303)],
    *[Case(f"refusal-{c}", refusal(c), **REFUSED, circuit=True) for c in (600, 601, 602)],
    Case(
        "instruction-everywhere",
        lambda i: [INSTRUCTION],
        **{**REFUSED, "requests": 2},  # v2, then v1: both instruct
        circuit=True,
    ),
]


@dataclass
class Probes:
    """Health answers and memory samples taken while a hostile call runs."""

    latencies: list[float] = field(default_factory=list)
    answered_at: list[float] = field(default_factory=list)
    upstream: list[dict[str, Any]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def probe_health(gateway: Gateway, stop: threading.Event, probes: Probes) -> None:
    """Ask unauthenticated health over and over (bounded) until ``stop``; sample RSS."""
    with httpx.Client(base_url=gateway.base_url, timeout=10 * HEALTH_DEADLINE) as http:
        for _ in range(5000):
            if stop.is_set():
                return
            started = time.monotonic()
            try:
                response = http.get(HEALTH_PATH)
            except httpx.HTTPError as exc:
                probes.errors.append(f"{type(exc).__name__}: {exc}")
                return
            probes.latencies.append(time.monotonic() - started)
            probes.answered_at.append(time.monotonic())
            probes.texts.append(response.text)
            probes.upstream.append(response.json()["data"]["upstream"])
            probes.rss_mb.append(gateway.rss_mb())
            stop.wait(0.05)


def call(gateway: Gateway, token: str, item: str) -> httpx.Response:
    """The caller: the v2 endpoint until it answers something other than 102 (bounded)."""
    with httpx.Client(base_url=gateway.base_url, timeout=120.0) as http:
        for _ in range(20):
            response = http.get(
                V2_PATH, params={"itemId": item}, headers={"Authorization": f"Bearer {token}"}
            )
            if response.json()["code"] != 102:
                return response
    raise AssertionError(f"item {item} still pending after 20 calls")


@dataclass
class Bench:
    vendor: FaultServer
    gateway: Gateway
    token: str
    items: Iterator[int]

    def operator_spend(self) -> dict[str, Any]:
        response = httpx.get(
            self.gateway.base_url + HEALTH_PATH,
            headers={"X-Admin-Key": self.gateway.deployment.admin_key},
            timeout=30.0,
        )
        upstream: dict[str, Any] = response.json()["data"]["upstream"]
        assert upstream["baseUrl"] == self.vendor.base_url  # the operator sees it
        spend: dict[str, Any] = upstream["spend"]
        return spend


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bench(request: pytest.FixtureRequest) -> Iterator[Bench]:
    """The fake vendor and a gateway process in front of it, per store profile."""
    database_url = None
    cluster = None
    name = ""
    if request.param == "postgresql":
        from tests.support.backends import TEMPLATE_DB

        cluster = request.getfixturevalue("pg_cluster")
        name = cluster.create_database("hostile", template=TEMPLATE_DB)
        database_url = cluster.sync_url(name)
    try:
        with (
            FaultServer([Reply.envelope(404, None, status=404)]) as vendor,
            gateway_process(
                vendor.base_url,
                SECRET,
                database_url=database_url,
                upstream_endpoints="v2,v1",
                upstream_timeout_seconds=str(UPSTREAM_TIMEOUT),
                upstream_probe_seconds=str(PROBE_SECONDS),
                upstream_max_pause_seconds=str(PAUSE_CAP),
                upstream_price_units="100",
                upstream_rate="100",
                upstream_burst="50",
                retry_backoff_seconds="0.05",
                max_attempts=str(MAX_ATTEMPTS),
                wait_seconds="20",
            ) as gateway,
        ):
            token = gateway.deployment.make_token("team")
            yield Bench(vendor, gateway, token, iter(range(1000)))
            log = gateway.proc.text()
            assert SECRET not in log, "the upstream token reached the gateway's log"
    finally:
        if cluster is not None:
            cluster.drop_database(name)


def close_circuit(bench: Bench) -> None:
    """Let the vendor serve again and call new items until the probe closes the circuit."""
    item = f"77{next(bench.items)}"
    bench.vendor.behave(product(item))
    wait_until(
        lambda: call(bench.gateway, bench.token, item).json()["code"] == 0,
        what="the circuit to close after a successful probe",
    )


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_hostile_vendor(bench: Bench, case: Case) -> None:
    gateway, vendor = bench.gateway, bench.vendor
    item = f"9{next(bench.items):04d}"
    spend_before = bench.operator_spend()
    vendor.behave(*case.script(item))
    probes, stop = Probes(), threading.Event()
    prober = threading.Thread(target=probe_health, args=(gateway, stop, probes), daemon=True)
    answer: list[httpx.Response] = []
    caller = threading.Thread(target=lambda: answer.append(call(gateway, bench.token, item)))
    caller.start()
    try:
        wait_until(vendor.arrived.is_set, what="the hostile call to reach the vendor")
        prober.start()
        caller.join(timeout=180)
        assert answer, "the caller got no answer"
        answered_at = time.monotonic()
        wait_until(lambda: probes.answered_at, what="a health answer")
        after = httpx.get(gateway.base_url + HEALTH_PATH, timeout=30.0).json()["data"]
        spend = bench.operator_spend()  # before a circuit case's own clean-up call
    finally:
        stop.set()
        if prober.is_alive():
            prober.join(timeout=30)
        try:
            if case.circuit:
                close_circuit(bench)
        finally:
            vendor.behave(Reply.envelope(404, None, status=404))
    response = answer[0]
    body = response.json()

    # what the caller gets, and what it is charged
    assert body["code"] == case.code, body
    assert SECRET not in response.text
    charged = wait_until(
        lambda: gateway.rows(
            "SELECT COUNT(*), COALESCE(SUM(charged), 0) FROM call_records WHERE item_id = :i",
            i=item,
        )[0],
        what="the caller's call records to be written",
    )
    assert (int(charged[1]) > 0) is case.charged, charged
    if case.code == 503:
        assert set(body["data"]) == {"retryAfter", "circuit", "upstreamCode"}
        assert response.headers["Retry-After"] == str(body["data"]["retryAfter"])
        assert body["data"]["circuit"] in ("open", "probe_due")
    if case.name.startswith("refusal-"):
        assert body["data"]["upstreamCode"] == int(case.name.split("-")[1])
        assert "retry in" in body["message"]
    if case.name == "instruction-everywhere":
        assert body["data"]["upstreamCode"] is None
        assert "retry" not in body["message"].lower()
        assert "JDITEM_" not in body["message"]  # no operator advice to callers

    # what the upstream accounting records, and how often the vendor was asked
    certain, possible = gateway.rows(
        "SELECT COALESCE(SUM(CASE WHEN charged THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN possibly_charged THEN 1 ELSE 0 END), 0) "
        "FROM upstream_calls WHERE item_id = :i",
        i=item,
    )[0]
    assert (int(certain), int(possible)) == (case.certain, case.possible)
    asked = [r for r in vendor.requests if r.query.get("itemId") == [item]]
    assert len(asked) == case.requests
    assert spend["charged"] - spend_before["charged"] == case.certain
    assert spend["possiblyCharged"] - spend_before["possiblyCharged"] == case.possible
    stored = gateway.rows(
        "SELECT COUNT(*) FROM upstream_calls WHERE upstream_request_id LIKE :s", s=f"%{SECRET}%"
    )[0][0]
    assert stored == 0
    kept = gateway.rows("SELECT payload FROM results WHERE item_id = :i", i=item)
    kept += gateway.rows("SELECT error FROM tasks WHERE item_id = :i", i=item)
    assert SECRET not in repr(kept)

    # health answered meanwhile, quickly, without operator details; memory stayed low
    assert not probes.errors, probes.errors
    assert max(probes.latencies) < HEALTH_DEADLINE, probes.latencies
    if case.lasting or case.pause:
        assert probes.answered_at[0] < answered_at
    assert all("baseUrl" not in up and "rate" not in up for up in probes.upstream)
    assert all(vendor.base_url not in text for text in probes.texts)
    if case.pause:
        pauses = [up["pauseSeconds"] for up in probes.upstream]
        assert max(pauses) > 0, "the pause was not visible in health"
        assert max(pauses) <= PAUSE_CAP
    if case.circuit:  # health says so once the caller has its 503
        assert after["upstream"]["circuit"] in ("open", "probe_due", "half_open")
        assert after["upstream"]["code"] == body["data"]["upstreamCode"]
    assert max(probes.rss_mb) < RSS_LIMIT_MB, max(probes.rss_mb)
    assert gateway.rss_mb() < RSS_LIMIT_MB
