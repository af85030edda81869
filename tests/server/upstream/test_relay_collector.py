"""RelayCollector against the scripted fault server: each hostile upstream answer (SPEC §5).

Real HTTP on loopback and a real SQLite database for the upstream accounting; the
rate's sleeps are recorded instead of waited, so no test depends on machine speed.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from jditem.server.clock import utc_now
from jditem.server.collectors.base import CollectError, SourceUnavailable
from jditem.server.collectors.catalog import build_payload
from jditem.server.collectors.relay import RelayCollector
from jditem.server.settings import Settings
from jditem.server.shared.limiter import InMemoryRateLimiter
from jditem.server.store.db import Database, migrate
from jditem.server.upstream.accounting import UpstreamLedger
from jditem.server.upstream.circuit import Circuit
from jditem.server.upstream.rate import AimdRate
from tests.support.fault_server import FaultServer, Reply, Reset, Stream, Trickle

ITEM = "100012043978"
SECRET = "relay-upstream-secret-42"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}")
    await migrate(database.engine)
    yield database
    await database.dispose()


class Harness:
    def __init__(self, db: Database, base_url: str, **overrides: Any) -> None:
        values: dict[str, Any] = {
            "home": Path("/nonexistent"),
            "collector": "relay",
            "upstream": base_url,
            "upstream_token": SECRET,
            "upstream_endpoints": "v2",
            "upstream_deadline_seconds": 60.0,
            **overrides,
        }
        self.settings = Settings(**values)
        self.slept: list[float] = []
        self.now = 0.0  # a fake monotonic clock, advanced by the recorded sleeps
        self.ledger = UpstreamLedger(db, utc_now)
        self.circuit = Circuit(30.0, clock=self.clock)
        limiter = InMemoryRateLimiter(monotonic=self.clock)
        self.rate = AimdRate(limiter, 50.0, 10, clock=self.clock, sleep=self.sleep)
        self.collector = RelayCollector(
            self.settings,
            rate=self.rate,
            circuit=self.circuit,
            ledger=self.ledger,
            sleep=self.sleep,
            clock=self.clock,
        )
        self.db = db

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    async def rows(self) -> list[tuple[Any, ...]]:
        from sqlalchemy import text

        async with self.db.reading() as session:
            result = await session.execute(
                text(
                    "SELECT endpoint, code, http_status, outcome, charged, possibly_charged, "
                    "failure FROM upstream_calls ORDER BY id"
                )
            )
            return [tuple(row) for row in result]


async def test_pending_is_polled_after_retry_after(db: Database) -> None:
    pending = {"taskId": "t_1", "taskStatus": "running", "retryAfter": 2}
    script = [Reply.envelope(102, pending), Reply.envelope(102, pending)]
    script.append(Reply.envelope(0, build_payload(ITEM)))
    with FaultServer(script) as server:
        h = Harness(db, server.base_url)
        result = await h.collector.collect(ITEM)
        await h.collector.aclose()
    assert result.kind == "ok"
    assert h.slept == [2.0, 2.0]
    assert [r[3] for r in await h.rows()] == ["pending", "pending", "ready"]


async def test_pending_past_the_deadline_fails_the_task_for_good(db: Database) -> None:
    pending = {"taskId": "t_1", "taskStatus": "running", "retryAfter": 40}
    with FaultServer([Reply.envelope(102, pending)]) as server:
        h = Harness(db, server.base_url, upstream_deadline_seconds=50.0)
        with pytest.raises(CollectError, match="still pending") as caught:
            await h.collector.collect(ITEM)
        await h.collector.aclose()
    assert caught.value.final
    assert len(server.requests) == 2  # one wait of 40 s fits, the second would not


@pytest.mark.parametrize(
    "reply",
    [
        Reply.envelope(301, None, status=503),
        Reply.envelope(500, None, status=500),
        Reply(status=503),
        Reply(status=302, headers={"Location": "https://elsewhere.example/x"}),
        Reply.text("<html>not found</html>", status=404),
    ],
    ids=["301", "500", "empty-503", "redirect", "html-404"],
)
async def test_answers_that_charge_nothing_are_retried_by_the_worker(
    db: Database, reply: Any
) -> None:
    with FaultServer([reply]) as server:
        h = Harness(db, server.base_url)
        with pytest.raises(CollectError) as caught:
            await h.collector.collect(ITEM)
        await h.collector.aclose()
    assert not caught.value.final
    assert not isinstance(caught.value, SourceUnavailable)
    assert SECRET not in str(caught.value)
    assert h.circuit.state == "closed"
    assert len(server.requests) == 1
    assert [(r[4], r[5]) for r in await h.rows()] == [(0, 0)]  # neither charged nor possibly


async def test_a_refused_connection_is_retried_it_was_never_sent(db: Database) -> None:
    from tests.support.processes import free_port

    h = Harness(db, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(CollectError, match="could not be reached") as caught:
        await h.collector.collect(ITEM)
    await h.collector.aclose()
    assert not caught.value.final
    assert await h.rows() == [("v2", None, None, "transport_error", 0, 0, "connect failed")]


@pytest.mark.parametrize(
    ("reply", "failure"),
    [
        (Reset(), "connection lost"),
        (Reply.text("<html>bad gateway</html>", status=502), "HTML body"),
        (Reply.text("<html>ok?</html>", status=200), "HTML body"),
        (Reply(status=200), "empty body"),
        (Reply(200, b'{"code": 0, "message": "succ', {"Content-Type": "x"}), "invalid body"),
        (Reply(200, b'{"code": 0}', {"Content-Length": "400"}), "connection lost"),
        (Reply.envelope(0, build_payload(ITEM), delay=3.0), "read timeout"),
        (Trickle(length=2000, interval=0.05), "slow body"),
        (Stream.envelope(8 * 1024 * 1024, ITEM), "body too large"),
        (Stream.envelope(8 * 1024 * 1024, ITEM, announce=False), "body too large"),
    ],
    ids=[
        "reset-after-send",
        "html-502",
        "html-200",
        "empty-200",
        "truncated-json",
        "short-body",
        "read-timeout",
        "trickle",
        "huge",
        "huge-unannounced",
    ],
)
async def test_an_ambiguous_outcome_is_never_resent_and_may_have_been_charged(
    db: Database, reply: Any, failure: str
) -> None:
    """SPEC §5: sent, no complete answer → recorded possibly charged, the task fails at
    once (final: the worker does not retry it), the upstream was asked exactly once."""
    with FaultServer([reply, Reply.envelope(0, build_payload(ITEM))]) as server:
        h = Harness(db, server.base_url, upstream_timeout_seconds=2.0, upstream_max_body=65536)
        with pytest.raises(CollectError, match="may have been charged") as caught:
            await h.collector.collect(ITEM)
        await h.collector.aclose()
    assert caught.value.final
    assert SECRET not in str(caught.value)
    assert len(server.requests) == 1
    (row,) = await h.rows()
    assert row[4:] == (0, 1, failure)  # not charged for sure, possibly charged, labelled


async def test_a_gzip_bomb_is_cut_at_the_body_limit(db: Database) -> None:
    bomb = gzip.compress(b'{"code":0,"data":{"skuId":"1","pad":"' + b"x" * 50_000_000 + b'"}}')
    assert len(bomb) < 100_000
    reply = Reply(200, bomb, {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    with FaultServer([reply]) as server:
        h = Harness(db, server.base_url, upstream_max_body=1_000_000)
        with pytest.raises(CollectError, match="body too large"):
            await h.collector.collect(ITEM)
        await h.collector.aclose()
    assert (await h.rows())[0][6] == "body too large"


async def test_a_gzip_answer_within_the_limit_is_read(db: Database) -> None:
    body = json.dumps({"code": 0, "message": "ok", "data": build_payload(ITEM)}).encode()
    reply = Reply(200, gzip.compress(body), {"Content-Encoding": "gzip"})
    with FaultServer([reply]) as server:
        h = Harness(db, server.base_url)
        result = await h.collector.collect(ITEM)
        await h.collector.aclose()
    assert result.kind == "ok"
    assert server.requests[0].headers["accept-encoding"] == "gzip, identity"


@pytest.mark.parametrize("code", [100, 303, 600, 601, 602])
async def test_refusals_open_the_circuit(db: Database, code: int) -> None:
    with FaultServer([Reply.envelope(code, None, status=402)]) as server:
        h = Harness(db, server.base_url)
        with pytest.raises(SourceUnavailable, match=f"upstream code {code}"):
            await h.collector.collect(ITEM)
        # while open, workers do not call the upstream at all
        with pytest.raises(SourceUnavailable):
            await h.collector.collect("1")
        await h.collector.aclose()
    assert h.circuit.state == "open"
    assert len(server.requests) == 1


async def test_throttle_cuts_the_rate_and_is_not_a_failed_attempt(db: Database) -> None:
    script = [
        Reply.envelope(302, None, status=429, headers={"Retry-After": "3"}),
        Reply(status=429, headers={"Retry-After": "1"}),  # HTTP 429 without a body code
        Reply.envelope(0, build_payload(ITEM)),
    ]
    with FaultServer(script) as server:
        h = Harness(db, server.base_url)
        result = await h.collector.collect(ITEM)
        await h.collector.aclose()
    assert result.kind == "ok"
    assert h.rate.cuts == 2
    assert h.rate.current < h.rate.configured
    assert 3.0 in h.slept  # paused for the upstream's Retry-After
    assert [r[3] for r in await h.rows()] == ["rate_limited", "rate_limited", "ready"]


async def test_not_supported_and_exhausted_fallback(db: Database) -> None:
    with FaultServer([Reply.envelope(202, None)]) as server:
        h = Harness(db, server.base_url)
        result = await h.collector.collect(ITEM)
        await h.collector.aclose()
    assert result.kind == "not_supported"
    with FaultServer([Reply.envelope(0, "use the Task Management page")]) as server:
        h = Harness(db, server.base_url, upstream_endpoints="v2,v3")
        with pytest.raises(SourceUnavailable, match="on every endpoint") as caught:
            await h.collector.collect(ITEM)
        await h.collector.aclose()
    assert caught.value.final
    assert [r.path.rsplit("/", 1)[1] for r in server.requests] == ["v2", "v3"]
    # the caller's message is final: no "retry", no configuration advice
    assert "retry" not in str(caught.value)
    assert "JDITEM_" not in str(caught.value)
    refusal = h.circuit.current_refusal()
    assert refusal.data() == {"retryAfter": 30, "circuit": "open", "upstreamCode": None}
    assert "retry" not in refusal.message


async def test_the_token_travels_as_the_vendor_expects_and_is_recorded_nowhere(
    db: Database,
) -> None:
    with FaultServer([Reply.envelope(0, build_payload(ITEM))]) as server:
        h = Harness(db, server.base_url)
        await h.collector.collect(ITEM)
        await h.collector.aclose()
    assert server.requests[0].query["token"] == [SECRET]
    assert server.requests[0].query["itemId"] == [ITEM]
    assert SECRET not in repr(h.collector.__dict__)
    assert SECRET not in repr(h.settings)
    assert all(SECRET not in str(row) for row in await h.rows())


async def test_a_token_echoed_anywhere_in_the_answer_is_scrubbed_before_use(db: Database) -> None:
    """Item 5: echoed in code-0 data (deep), the request id, the message and a header."""
    payload = build_payload(ITEM)
    payload["echo"] = {"list": ["see {{token}} here", {"k": "{{token}}"}], "{{token}}": 1}
    reply = Reply.envelope(
        0,
        payload,
        message="hello {{token}}",
        request_id="{{token}}",
        headers={"X-Request-Id": "{{token}}"},
        echo=True,
    )
    with FaultServer([reply]) as server:
        h = Harness(db, server.base_url)
        result = await h.collector.collect(ITEM)
        await h.collector.aclose()
    assert result.kind == "ok"
    assert result.payload is not None
    assert SECRET not in json.dumps(result.payload)
    assert result.payload["echo"] == {"list": ["see *** here", {"k": "***"}], "***": 1}
    assert all(SECRET not in str(row) for row in await h.rows())
    async with h.db.reading() as session:
        from sqlalchemy import text

        stored = await session.execute(text("SELECT upstream_request_id FROM upstream_calls"))
        assert stored.scalar() == "***"


async def test_every_call_is_logged_at_info_with_code_and_latency(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="jditem.server.relay")
    with FaultServer([Reset()]) as server:
        h = Harness(db, server.base_url)
        with pytest.raises(CollectError):
            await h.collector.collect(ITEM)
        await h.collector.aclose()
    (line,) = [r.getMessage() for r in caplog.records if r.name == "jditem.server.relay"]
    assert f"upstream v2 itemId={ITEM}" in line
    assert "(connection lost) possibly charged" in line
    assert line.endswith(" ms")
    assert SECRET not in caplog.text
