"""Ambiguous outcomes (SPEC §4): sent, no complete answer — resent only under an
``Idempotency-Key`` the server said it honours, on every client and transport.

Real HTTP on loopback (the scripted fault server), through the sync client, the async
client over httpx, and the async client over aiohttp. Each fault — a read timeout, a
connection reset after the request, a truncated body, HTML from a gateway, a bad 200 —
is met against a server that never announces ``Idempotency-Key-Honoured`` (the vendor:
one call, a typed error that says it may have been charged and was not resent) and
against one that does (a jditem server: resent under the same key, free there).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from jditem import errors
from jditem.client import CallInfo
from jditem.client.aiohttp_transport import aiohttp_available, aiohttp_http_client
from tests.client.conftest import SKU, Twin, TwinFactory
from tests.support.fault_server import Action, FaultServer, Reply, Reset

HONOURED = {"Idempotency-Key-Honoured": "ttl=86400"}
PENDING_NOW = {"taskId": "t_1", "itemId": SKU, "taskStatus": "queued", "retryAfter": 0}
#: Read timeout for the read-timeout case: far above a loopback answer, however busy
#: the machine (the scripted answers around the fault must not time out), while the
#: fault itself never answers.
READ_TIMEOUT = 5.0

FAULTS: dict[str, Action] = {
    "read-timeout": Reply.envelope(0, {}, delay=60.0),
    "reset-after-send": Reset(),
    "truncated-body": Reply(
        200, b'{"code": 0, "message": "succ', {"Content-Length": "400", "Content-Type": "json"}
    ),
    "html-502": Reply.text("<html><body>Bad gateway</body></html>", status=502),
    "bad-200": Reply.text("<!DOCTYPE html><title>Welcome</title>", status=200),
}


@pytest.fixture(params=["sync", "async", "aiohttp"])
async def client_of(request: pytest.FixtureRequest) -> AsyncIterator[TwinFactory]:
    """``client_of(base_url=..., **options)`` on the parametrised client and transport."""
    made: list[Twin] = []
    transports: list[httpx.AsyncClient] = []

    def factory(**options: Any) -> Twin:
        kind = request.param
        if kind == "aiohttp":
            if not aiohttp_available():
                pytest.skip("needs jditem[aiohttp]")
            transports.append(aiohttp_http_client(timeout=httpx.Timeout(120.0, connect=10.0)))
            options["http_client"] = transports[-1]
            kind = "async"
        made.append(Twin(kind, **options))
        return made[-1]

    yield factory
    for twin in made:
        await twin.close()
    for http in transports:
        await http.aclose()


def _options(fault: str) -> dict[str, Any]:
    return {"read_timeout": READ_TIMEOUT} if fault == "read-timeout" else {}


def _keys(server: FaultServer) -> set[str | None]:
    return {request.headers.get("idempotency-key") for request in server.requests}


@pytest.mark.parametrize("fault", FAULTS)
async def test_not_resent_to_a_server_that_does_not_honour_keys(
    client_of: TwinFactory, fault: str
) -> None:
    """The vendor ignores Idempotency-Key: the lost call may have been charged, so it is
    never resent; the error says so and what to do."""
    calls: list[CallInfo] = []
    with FaultServer([Reply.envelope(102, PENDING_NOW, status=202), FAULTS[fault]]) as server:
        client = client_of(base_url=server.base_url, **_options(fault))
        with pytest.raises(errors.AmbiguousOutcomeError) as caught:
            await client.get(SKU, on_call=calls.append)
        assert len(server.requests) == 2, "the pending poll, then the lost call — not resent"
    message = str(caught.value)
    assert "may have been charged" in message
    assert "not resent: the server has not said that it honours Idempotency-Key" in message
    assert "ask again yourself if paying twice is acceptable" in message
    assert caught.value.retryable is False
    assert caught.value.item_id == SKU
    assert [call.ambiguous for call in calls] == [False, True]


@pytest.mark.parametrize("fault", FAULTS)
async def test_resent_under_the_same_key_to_a_server_that_honours_keys(
    client_of: TwinFactory, fault: str, product_data: dict[str, Any]
) -> None:
    """A jditem server says it honours keys on every answer: a lost call is resent under
    the same key (a charged one is replayed free there)."""
    script = [
        Reply.envelope(102, PENDING_NOW, status=202, headers=HONOURED),
        FAULTS[fault],
        Reply.envelope(0, product_data, headers=HONOURED),
    ]
    with FaultServer(script) as server:
        client = client_of(base_url=server.base_url, **_options(fault))
        product = await client.get(SKU)
        assert product.sku_id == SKU
        assert len(server.requests) == 3
        (key,) = _keys(server)
        assert key is not None
        assert key.startswith("jditem-")
        assert key.endswith(f"-0-{SKU}")


async def test_no_evidence_yet_means_no_resend(client_of: TwinFactory) -> None:
    """Evidence, not hope: when the very first answer is lost, nothing has said yet that
    the server honours keys — not resent, even if it would have."""
    with FaultServer([Reset(), Reply.envelope(0, {}, headers=HONOURED)]) as server:
        with pytest.raises(errors.ConnectionLostError) as caught:
            await client_of(base_url=server.base_url).get(SKU, idempotency_key="job-7")
        assert len(server.requests) == 1
    assert "idempotency_key='job-7'" in str(caught.value)


async def test_evidence_is_kept_by_the_client(
    client_of: TwinFactory, product_data: dict[str, Any]
) -> None:
    """Once a server said it honours keys, a later ``get`` of the same client may resend."""
    script = [
        Reply.envelope(0, product_data, headers=HONOURED),
        Reset(),
        Reply.envelope(0, product_data, headers=HONOURED),
    ]
    with FaultServer(script) as server:
        client = client_of(base_url=server.base_url)
        await client.get(SKU)
        assert client.client.key_evidence.ttl == 86400
        await client.get(SKU)
        assert len(server.requests) == 3
        first, second, third = (r.headers["idempotency-key"] for r in server.requests)
        assert first != second == third, "one fresh key per get, the same for its resend"


async def test_resends_stay_within_the_call_budget(client_of: TwinFactory) -> None:
    script = [Reply.envelope(102, PENDING_NOW, status=202, headers=HONOURED), Reset()]
    with FaultServer(script) as server:
        client = client_of(base_url=server.base_url, max_calls_per_item=4)
        with pytest.raises(errors.ConnectionLostError) as caught:
            await client.get(SKU)
        assert len(server.requests) == 4
    assert "gave up after 4 call(s)" in str(caught.value)


async def test_write_and_connect_failures_are_not_ambiguous(client_of: TwinFactory) -> None:
    """Nothing was sent: retried like before, and not an AmbiguousOutcomeError."""
    from tests.support.processes import free_port

    client = client_of(base_url=f"http://127.0.0.1:{free_port()}", max_calls_per_item=2)
    with pytest.raises(errors.ConnectError) as caught:
        await client.get(SKU)
    assert not isinstance(caught.value, errors.AmbiguousOutcomeError)
