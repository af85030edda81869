"""The aiohttp transport (``jditem[aiohttp]``): same answers, same failure classes as httpx.

Real HTTP on loopback (the scripted fault server); the client on top is jditem's own
``AsyncClient`` with ``http_client=aiohttp_http_client(...)``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from jditem import AsyncClient, errors
from jditem.client import CallInfo
from jditem.client.aiohttp_transport import aiohttp_available, aiohttp_http_client
from tests.client.conftest import SKU, TOKEN, record_raised
from tests.support.fault_server import FaultServer, Reply, Reset
from tests.support.processes import free_port

pytestmark = pytest.mark.skipif(not aiohttp_available(), reason="needs jditem[aiohttp]")

Factory = Callable[..., AsyncClient]


@pytest.fixture
async def aio_client() -> AsyncIterator[Factory]:
    """``make(base_url=..., **options)``: an AsyncClient over aiohttp (closed afterwards)."""
    opened: list[httpx.AsyncClient] = []

    def make(**options: Any) -> AsyncClient:
        http = aiohttp_http_client(timeout=httpx.Timeout(120.0, connect=10.0))
        opened.append(http)
        return AsyncClient(TOKEN, http_client=http, allow_insecure_http=True, **options)

    yield make
    for http in opened:
        await http.aclose()


async def get(client: AsyncClient, **kwargs: Any) -> Any:
    try:
        return await client.get(SKU, **kwargs)
    except errors.JditemError as exc:
        record_raised(exc)
        raise


async def test_product_and_headers_as_with_httpx(
    aio_client: Factory, product_data: dict[str, Any]
) -> None:
    with FaultServer([Reply.envelope(0, product_data)]) as server:
        product = await get(aio_client(base_url=server.base_url), idempotency_key="k-1")
        assert product.sku_id == SKU
        assert product.title
        (request,) = server.requests
        assert request.query["itemId"] == [SKU]
        assert request.headers["idempotency-key"] == "k-1"
        assert request.headers["user-agent"].startswith("jditem/")


async def test_reset_after_the_request_is_connection_lost_not_a_connect_error(
    aio_client: Factory,
) -> None:
    """A broken connection after sending may have been charged: not retried."""
    with FaultServer([Reset()]) as server:
        with pytest.raises(errors.ConnectionLostError) as caught:
            await get(aio_client(base_url=server.base_url))
        assert caught.value.retryable is False
        assert len(server.requests) == 1


async def test_connection_refused_is_a_connect_error_and_retried(aio_client: Factory) -> None:
    port = free_port()  # nothing listens there: connection refused
    calls: list[CallInfo] = []
    client = aio_client(base_url=f"http://127.0.0.1:{port}", max_calls_per_item=2)
    with pytest.raises(errors.ConnectError) as caught:
        await get(client, on_call=calls.append)
    assert caught.value.retryable is True
    assert [c.outcome for c in calls] == ["transport_error"] * 2


async def test_html_from_a_gateway_is_a_protocol_error(aio_client: Factory) -> None:
    with FaultServer([Reply.text("<html>Bad gateway</html>", status=502)]) as server:
        with pytest.raises(errors.JditemError) as caught:
            await get(aio_client(base_url=server.base_url, max_calls_per_item=1))
        assert "not JSON" in str(caught.value)


async def test_slow_answer_is_a_timeout_within_the_deadline(aio_client: Factory) -> None:
    with FaultServer([Reply.envelope(0, {}, delay=60.0)]) as server:
        started = time.monotonic()
        with pytest.raises(errors.RequestTimeoutError):
            await get(aio_client(base_url=server.base_url), deadline=0.5)
        assert time.monotonic() - started < 30, "far below the 60 s answer"


def test_without_the_extra_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import jditem.client.aiohttp_transport as module

    monkeypatch.setattr(module, "AiohttpTransport", None)
    assert not module.aiohttp_available()
    with pytest.raises(errors.ConfigurationError, match=r"pip install 'jditem\[aiohttp\]'"):
        module.aiohttp_http_client(timeout=httpx.Timeout(10.0))


def test_an_aiohttp_without_the_resend_switch_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Should aiohttp rename its private switch, a broken GET could be sent twice (two
    charges): then ``auto`` picks httpx and an explicit aiohttp transport is refused."""
    import aiohttp

    attributes = aiohttp.ClientSession.ATTRS - {"_retry_connection"}
    monkeypatch.setattr(aiohttp.ClientSession, "ATTRS", attributes)
    assert aiohttp_available() is False
    with pytest.raises(errors.ConfigurationError, match="httpx's own transport") as caught:
        aiohttp_http_client(timeout=httpx.Timeout(5.0))
    assert caught.value.option == "transport"  # the CLI names --transport httpx
